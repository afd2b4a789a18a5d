//! A child's pages over plain HTTP, against the real server: every collection's page answers and says its values the
//! French way (`13,5/20`, `mardi 3 décembre`), the grades' chart is in the page, a PDF downloads with its bytes and
//! opens inline, a follow-up entry and a file added from the forms appear (and nothing changes without the CSRF
//! token), a long collection is paged, another family's guardian gets 404 everywhere, and a guardian of an adult
//! child is told the data is theirs now.

mod api_support;
mod cli_support;
mod web_support;

use api_support::{Backend, Server, backends, within};
use web_support::{Visitor, WebFamily};

/// A small but well-formed PDF (one empty page), enough for bytes to be compared.
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

fn put(server: &Server, family: &str, child: &str, doctype: &str, body: &str) -> String {
    let out = server.cli_in(&["record", "put", "--family", family, "--child", child, "--doctype", doctype, "--body", "-"], Some(body));
    out["record_id"].as_str().unwrap().to_owned()
}

fn add_child(server: &Server, family: &str, name: &str, age: i32) -> String {
    let birth = api_support::born_years_ago(age);
    let child = server.cli(&["member", "add", "--family", family, "--role", "child", "--name", name, "--birth-date", &birth]);
    child["member_id"].as_str().unwrap().to_owned()
}

/// A raw request with the visitor's cookies (for bytes, multipart bodies and the API).
fn raw(visitor: &Visitor, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let cookies = visitor.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    request.header("cookie", cookies)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A `multipart/form-data` body as a browser sends the upload form: `csrf` (when given) first, then the file.
fn multipart(csrf: Option<&str>, name: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----cartable-test-boundary-7d1f";
    let mut body = Vec::new();
    if let Some(csrf) = csrf {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n").as_bytes());
    }
    body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    body.extend(content);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The `href`s of the page that start with `prefix`.
fn links(body: &str, prefix: &str) -> Vec<String> {
    body.split("href=\"").skip(1).filter_map(|rest| rest.split('"').next()).filter(|h| h.starts_with(prefix)).map(|h| h.replace("&amp;", "&")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_childs_pages_show_their_data_and_take_entries_and_files() {
    within(240, "the child's pages", story()).await;
}

async fn story() {
    let server = Server::start(Backend::Sqlite).await;
    let mut martin = WebFamily::create(&server, "Martin", "claire").await;
    let family = martin.family.clone();
    let leo = add_child(&server, &family, "Léo", 11);
    let g = &mut martin.guardian;

    // Grades: maths (12 ×1, 16 ×3) = 15, French 12: the overall average is 13,5.
    put(&server, &family, &leo, "edu.grades", r#"{"subject": "Mathématiques", "title": "Contrôle n° 1", "grade": 12, "out_of": 20, "coefficient": 1, "date": "2030-12-03"}"#);
    put(&server, &family, &leo, "edu.grades", r#"{"subject": "Mathématiques", "title": "Contrôle n° 2", "grade": 8, "out_of": 10, "coefficient": 3, "date": "2030-12-10"}"#);
    put(&server, &family, &leo, "edu.grades", r#"{"subject": "Français", "title": "Dictée", "grade": 12, "out_of": 20, "coefficient": 1, "date": "2030-12-05"}"#);
    put(&server, &family, &leo, "edu.attendance", r#"{"date": "2030-12-03", "kind": "absence", "half_days": 2, "justified": true, "reason": "Malade"}"#);
    put(&server, &family, &leo, "edu.attendance", r#"{"date": "2030-12-05", "kind": "retard", "minutes": 10, "justified": false}"#);
    put(&server, &family, &leo, "edu.homework", r#"{"subject": "Mathématiques", "due": "2099-01-05", "description": "Exercices 4 à 7 page 52", "done": false}"#);
    put(&server, &family, &leo, "edu.homework", r#"{"subject": "Anglais", "due": "2020-01-06", "description": "Vocabulaire de l'unité 2", "done": true}"#);
    put(&server, &family, &leo, "edu.timetable", r#"{"weekday": 1, "start": "08:00", "end": "09:00", "subject": "Mathématiques", "room": "B12"}"#);
    put(&server, &family, &leo, "edu.timetable", r#"{"weekday": 3, "start": "10:00", "end": "11:00", "subject": "Éducation musicale", "room": "Auditorium"}"#);
    put(&server, &family, &leo, "edu.followup", r#"{"date": "2030-12-03", "author": "Mme Lefèvre, professeure principale", "text": "Bon début d'année."}"#);
    put(&server, &family, &leo, "edu.certificates", r#"{"title": "PIX — Compétences numériques", "issuer": "Pix", "date": "2030-06-20", "level": "Niveau 3"}"#);
    let dir = tempfile::tempdir().unwrap();
    let pdf_path = dir.path().join("bulletin-T1.pdf");
    std::fs::write(&pdf_path, PDF).unwrap();
    server.cli(&["file", "put", "--family", &family, "--child", &leo, "--doctype", "edu.report-cards", pdf_path.to_str().unwrap()]);

    // Home links to the child's page; the child's page to each collection.
    let base = format!("/family/{family}/children/{leo}");
    let home = g.get(&format!("/family/{family}")).await;
    assert!(home.body.contains(&format!("href=\"{base}\"")), "no link to the child's page: {}", home.body);
    let overview = g.get(&base).await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    for doctype in ["edu.grades", "edu.attendance", "edu.homework", "edu.timetable", "edu.followup", "edu.report-cards", "edu.certificates", "edu.documents"] {
        assert!(overview.body.contains(&format!("href=\"{base}/{doctype}\"")), "no link to {doctype}: {}", overview.body);
    }
    let mut pages = vec![base.clone()];

    let grades = g.get(&format!("{base}/edu.grades")).await;
    assert_eq!(grades.status, 200, "{}", grades.body);
    for needle in ["13,5/20", "15/20", "12/20", "8/10", "coef. 3", "mardi 3 décembre", "<svg", "<polyline", "Mathématiques : les notes dans le temps", "2 notes sur 20"] {
        assert!(grades.body.contains(needle), "the grades page lacks {needle}: {}", grades.body);
    }
    assert!(!grades.body.contains("<script"), "no script");

    let attendance = g.get(&format!("{base}/edu.attendance?month=2030-12")).await;
    assert_eq!(attendance.status, 200);
    for needle in ["décembre 2030", "<abbr class=\"mark\" title=\"Absence\">Abs.</abbr>", "<abbr class=\"mark\" title=\"Retard\">Ret.</abbr>", "Absence de 2 demi-journées", "Retard de 10 min", "justifié", "Malade", "?month=2030-11", "?month=2031-01", "mardi 3 décembre 2030"] {
        assert!(attendance.body.contains(needle), "the calendar lacks {needle}: {}", attendance.body);
    }
    let homework = g.get(&format!("{base}/edu.homework")).await;
    assert_eq!(homework.status, 200);
    let (upcoming, past) = (homework.body.find("Exercices 4 à 7").unwrap(), homework.body.find("Vocabulaire de l&#39;unité 2").unwrap());
    assert!(upcoming < past, "upcoming homework comes first");
    assert!(homework.body.contains("lundi 5 janvier 2099"), "{}", homework.body);
    let timetable = g.get(&format!("{base}/edu.timetable")).await;
    assert_eq!(timetable.status, 200);
    for needle in ["lundi", "mercredi", "vendredi", "08:00–09:00", "B12", "Éducation musicale"] {
        assert!(timetable.body.contains(needle), "the timetable lacks {needle}: {}", timetable.body);
    }
    let certificates = g.get(&format!("{base}/edu.certificates")).await;
    assert!(certificates.body.contains("PIX — Compétences numériques") && certificates.body.contains("Niveau 3") && certificates.body.contains("jeudi 20 juin 2030"), "{}", certificates.body);
    pages.extend([format!("{base}/edu.grades"), format!("{base}/edu.attendance"), format!("{base}/edu.homework"), format!("{base}/edu.timetable"), format!("{base}/edu.certificates")]);

    // The report card: listed with its size, downloaded with the same bytes, shown inline as a PDF.
    let cards = g.get(&format!("{base}/edu.report-cards")).await;
    assert_eq!(cards.status, 200);
    assert!(cards.body.contains("bulletin-T1.pdf") && cards.body.contains(&format!("{} octets", PDF.len())), "{}", cards.body);
    let files = links(&cards.body, &format!("{base}/files/"));
    let download = files.iter().find(|l| !l.ends_with("/view")).unwrap().clone();
    let view = files.iter().find(|l| l.ends_with("/view")).unwrap().clone();
    let got = raw(g, http().get(format!("{}{download}", server.url))).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert!(got.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(got.bytes().await.unwrap().as_ref(), PDF);
    let shown = raw(g, http().get(format!("{}{view}", server.url))).send().await.unwrap();
    assert_eq!(shown.status(), 200);
    assert_eq!(shown.headers()["content-type"], "application/pdf");
    assert_eq!(shown.headers()["content-disposition"], "inline; filename*=UTF-8''bulletin-T1.pdf");
    assert_eq!(shown.bytes().await.unwrap().as_ref(), PDF);
    pages.push(format!("{base}/edu.report-cards"));

    // The follow-up notebook: the school's entry; a guardian's entry added by the form, signed with her name; none
    // without the token.
    let notebook = format!("{base}/edu.followup");
    let page = g.get(&notebook).await;
    assert!(page.body.contains("Mme Lefèvre, professeure principale") && page.body.contains("mardi 3 décembre 2030"), "{}", page.body);
    let csrf = page.csrf();
    for forged in ["", "not-the-token"] {
        let refused = g.post(&notebook, &[("csrf", forged), ("text", "Un message refusé")]).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
    }
    assert!(!g.get(&notebook).await.body.contains("Un message refusé"), "a form without its token changed something");
    let added = g.post(&notebook, &[("csrf", &csrf), ("text", "Léo sera absent vendredi matin (rendez-vous).")]).await;
    assert_eq!((added.status, added.location()), (303, format!("{notebook}?done=added")), "{}", added.body);
    let page = g.get(&added.location()).await;
    assert!(page.body.contains("Votre message est ajouté au carnet"), "{}", page.body);
    let entry = page.body.find("Léo sera absent vendredi matin").expect("the new entry");
    let author = page.body[..entry].rfind("class=\"author\">").unwrap();
    assert!(page.body[author..entry].contains("Claire Martin"), "the entry is signed with the guardian's name: {}", &page.body[author..entry]);
    assert_eq!(g.post(&notebook, &[("csrf", &csrf), ("text", "   ")]).await.status, 400);
    pages.push(notebook.clone());

    // An upload through the form is listed; one without the token is refused and not stored.
    let documents = format!("{base}/edu.documents");
    let upload = format!("{}{documents}/upload", server.url);
    for forged in [None, Some("not-the-token")] {
        let (kind, body) = multipart(forged, "refuse.txt", b"nope");
        let refused = raw(g, http().post(&upload).header("content-type", kind).body(body)).send().await.unwrap();
        assert_eq!(refused.status(), 403);
    }
    let (kind, body) = multipart(Some(&csrf), "autorisation de sortie.txt", "Sortie au musée le 12 mars.".as_bytes());
    let sent = raw(g, http().post(&upload).header("content-type", kind).body(body)).send().await.unwrap();
    assert_eq!(sent.status(), 303);
    assert_eq!(sent.headers()["location"], format!("{documents}?done=uploaded").as_str());
    let listed = g.get(&format!("{documents}?done=uploaded")).await;
    assert!(listed.body.contains("autorisation de sortie.txt") && listed.body.contains("Le fichier est enregistré"), "{}", listed.body);
    assert!(!listed.body.contains("refuse.txt"), "a refused upload was stored");
    let document = links(&listed.body, &format!("{base}/files/")).into_iter().next().unwrap();
    assert!(!listed.body.contains(&format!("{document}/view")), "only a PDF is shown inline");
    let got = raw(g, http().get(format!("{}{document}", server.url))).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), "Sortie au musée le 12 mars.".as_bytes());
    pages.push(documents.clone());

    // A long collection is paged: 120 grades of another child, written through the API with the session.
    let zoe = add_child(&server, &family, "Zoé", 9);
    let api = format!("{}/api/v1/families/{family}/children/{zoe}/collections/edu.grades/records", server.url);
    let token = g.cookies["cartable_csrf"].clone();
    for n in 0..120 {
        let body = serde_json::json!({"subject": "Mathématiques", "title": format!("Exercice {n}"), "grade": 10 + n % 10, "out_of": 20, "date": "2030-11-04"});
        let written = raw(g, http().post(&api).header("x-csrf-token", &token).json(&body)).send().await.unwrap();
        assert_eq!(written.status(), 201, "{}", written.text().await.unwrap());
    }
    let mut path = format!("/family/{family}/children/{zoe}/edu.grades");
    let mut sizes = Vec::new();
    let mut seen = std::collections::HashSet::new();
    loop {
        let page = g.get(&path).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("120 notes"), "the average counts every grade: {}", page.body);
        let rows: Vec<&str> = page.body.split("<tr class=\"mark\">").skip(1).collect();
        for row in &rows {
            let title = row.split("Exercice ").nth(1).unwrap().split('<').next().unwrap().to_owned();
            assert!(seen.insert(title), "a grade shown twice");
        }
        sizes.push(rows.len());
        match links(&page.body, &format!("/family/{family}/children/{zoe}/edu.grades?after=")).first() {
            Some(next) => path = next.clone(),
            None => break,
        }
    }
    assert_eq!(sizes, vec![50, 50, 20]);
    assert_eq!(seen.len(), 120);

    // Another family's guardian: 404 on every page, download and form, with ids taken from the first family's pages.
    let mut durand = WebFamily::create(&server, "Durand", "bob").await;
    let other = &mut durand.guardian;
    let own = other.get(&format!("/family/{}", durand.family)).await;
    let other_csrf = own.csrf();
    pages.extend([download.clone(), view.clone(), document.clone(), format!("{base}/edu.followup?after=00000000-0000-0000-0000-000000000000")]);
    for path in &pages {
        let answer = other.get(path).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
        assert!(!answer.body.contains("Léo") && !answer.body.contains("bulletin"), "{path} told something");
    }
    // The same record under the outsider's own family is not found either.
    let record = download.rsplit('/').next().unwrap();
    assert_eq!(other.get(&format!("/family/{}/children/{leo}/files/{record}", durand.family)).await.status, 404);
    let refused = other.post(&notebook, &[("csrf", &other_csrf), ("text", "Intrus")]).await;
    assert_eq!(refused.status, 404);
    let (kind, body) = multipart(Some(&other_csrf), "intrus.txt", b"x");
    let refused = raw(other, http().post(&upload).header("content-type", kind).body(body)).send().await.unwrap();
    assert_eq!(refused.status(), 404);
    let page = g.get(&notebook).await;
    assert!(!page.body.contains("Intrus"), "an outsider wrote in the notebook");
    assert!(!g.get(&documents).await.body.contains("intrus.txt"), "an outsider uploaded");

    // A guardian of an adult child sees the sentence, not the data.
    let ines = add_child(&server, &family, "Inès", 19);
    put(&server, &family, &ines, "edu.grades", r#"{"subject": "Philosophie", "grade": 14, "out_of": 20, "date": "2030-12-03"}"#);
    for path in [format!("/family/{family}/children/{ines}"), format!("/family/{family}/children/{ines}/edu.grades")] {
        let page = g.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Inès est majeur : ses données lui appartiennent"), "{}", page.body);
        assert!(!page.body.contains("Philosophie") && !page.body.contains("14/20"), "{}", page.body);
    }

    // In English, the same page in English conventions.
    g.language = Some("en");
    g.cookies.remove("cartable_lang");
    let english = g.get(&format!("{base}/edu.grades")).await;
    assert!(english.body.contains("13.5/20") && english.body.contains("Tuesday 3 December 2030"), "{}", english.body);
}

/// The records of one collection of a child, as the operator's CLI reads them (body and source), oldest first.
fn records(server: &Server, family: &str, child: &str, doctype: &str) -> Vec<serde_json::Value> {
    let listed = server.cli(&["record", "list", "--family", family, "--child", child, "--doctype", doctype]);
    let ids: Vec<String> = listed["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    ids.iter().map(|id| server.cli(&["record", "get", "--family", family, "--id", id])).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grades_homework_and_absences_are_added_from_the_pages() {
    for backend in backends() {
        within(240, "records added from the pages", added_from_the_pages(backend)).await;
    }
}

async fn added_from_the_pages(backend: Backend) {
    let server = Server::start(backend).await;
    let mut martin = WebFamily::create(&server, "Martin", "claire").await;
    let family = martin.family.clone();
    let leo = add_child(&server, &family, "Léo", 11);
    let ines = add_child(&server, &family, "Inès", 19);
    let g = &mut martin.guardian;
    let base = format!("/family/{family}/children/{leo}");
    let guardian = server.cli(&["member", "list", "--family", &family])["members"].as_array().unwrap().iter().find(|m| m["role"] == "guardian").unwrap()["id"].as_str().unwrap().to_owned();

    // A grade: the form on the grades page, with its usual scale and coefficient filled in.
    let grades = format!("{base}/edu.grades");
    let page = g.get(&grades).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for needle in ["Ajouter une note", "name=\"subject\"", "name=\"grade\"", "name=\"out_of\" value=\"20\"", "name=\"coefficient\" value=\"1\"", "type=\"date\""] {
        assert!(page.body.contains(needle), "the grades page's form lacks {needle}: {}", page.body);
    }
    let csrf = page.csrf();
    let grade = |grade: &'static str, out_of: &'static str, date: &'static str| {
        vec![("subject", "Mathématiques"), ("grade", grade), ("out_of", out_of), ("coefficient", "2"), ("date", date)]
    };
    // Without the token, or with another, nothing is written.
    for forged in ["", "not-the-token"] {
        let mut form = grade("15,5", "20", "2030-12-03");
        form.push(("csrf", forged));
        assert_eq!(g.post(&grades, &form).await.status, 403);
    }
    // Above its scale, or on a day that does not exist: refused with what to fix, the form as it was typed.
    let mut form = grade("25", "20", "2030-12-03");
    form.push(("csrf", &csrf));
    let refused = g.post(&grades, &form).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("role=\"alert\"") && refused.body.contains("La note 25 dépasse le barème : elle est sur 20."), "{}", refused.body);
    assert!(refused.body.contains("name=\"grade\" value=\"25\"") && refused.body.contains("value=\"Mathématiques\""), "the form keeps what was typed: {}", refused.body);
    let mut form = grade("15,5", "20", "2030-02-30");
    form.push(("csrf", &csrf));
    let refused = g.post(&grades, &form).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("La date n&#39;est pas une date valide"), "{}", refused.body);
    for (field, value, says) in [("grade", "quinze", "La note doit être un nombre"), ("out_of", "0", "Le barème doit être"), ("coefficient", "-1", "Le coefficient doit être"), ("subject", " ", "Indiquez la matière")] {
        let mut form: Vec<(&str, &str)> = grade("15,5", "20", "2030-12-03").into_iter().filter(|(k, _)| *k != field).collect();
        form.extend([(field, value), ("csrf", &csrf)]);
        let refused = g.post(&grades, &form).await;
        assert_eq!(refused.status, 400, "{field}={value}");
        assert!(refused.body.contains(says), "{field}={value}: {}", refused.body);
    }
    assert!(records(&server, &family, &leo, "edu.grades").is_empty(), "a refused form wrote something");
    // In English, the same refusal in English.
    g.language = Some("en");
    let mut form = grade("12.5", "10", "2030-12-03");
    form.push(("csrf", &csrf));
    let refused = g.post(&grades, &form).await;
    assert!(refused.body.contains("The grade 12.5 is above its scale: it is out of 10."), "{}", refused.body);
    g.language = None;
    // Accepted: on the page at once, in the shape the page reads, written as the guardian.
    let mut form = grade("15,5", "20", "2030-12-03");
    form.push(("csrf", &csrf));
    let added = g.post(&grades, &form).await;
    assert_eq!((added.status, added.location()), (303, format!("{grades}?done=added")), "{}", added.body);
    let page = g.get(&added.location()).await;
    for needle in ["La note est ajoutée", "15,5/20", "coef. 2", "mardi 3 décembre 2030", "Mathématiques : les notes dans le temps"] {
        assert!(page.body.contains(needle), "the grades page lacks {needle}: {}", page.body);
    }
    let written = records(&server, &family, &leo, "edu.grades");
    assert_eq!(written.len(), 1);
    assert_eq!(written[0]["body"], serde_json::json!({"subject": "Mathématiques", "grade": 15.5, "out_of": 20, "coefficient": 2, "date": "2030-12-03"}));
    assert_eq!(written[0]["source"], format!("member:{guardian}"));

    // Homework: subject, due date and what to do.
    let homework = format!("{base}/edu.homework");
    let csrf = g.get(&homework).await.csrf();
    let refused = g.post(&homework, &[("csrf", &csrf), ("subject", "Français"), ("due", "2099-03-10"), ("text", "  ")]).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("Le texte est vide ou trop long"), "{}", refused.body);
    let refused = g.post(&homework, &[("csrf", &csrf), ("subject", "Français"), ("due", "10/03/2099"), ("text", "Réciter la poésie")]).await;
    assert!(refused.status == 400 && refused.body.contains("La date n&#39;est pas une date valide"), "{}", refused.body);
    let added = g.post(&homework, &[("csrf", &csrf), ("subject", "Français"), ("due", "2099-03-10"), ("text", "Réciter la poésie")]).await;
    assert_eq!(added.location(), format!("{homework}?done=added"), "{}", added.body);
    let page = g.get(&added.location()).await;
    assert!(page.body.contains("Le devoir est ajouté") && page.body.contains("mardi 10 mars 2099") && page.body.contains("Réciter la poésie"), "{}", page.body);
    let written = records(&server, &family, &leo, "edu.homework");
    assert_eq!(written[0]["body"], serde_json::json!({"subject": "Français", "due": "2099-03-10", "description": "Réciter la poésie", "done": false}));

    // Attendance: a late arrival, excused, and an absence that is not; each on its month's calendar.
    let attendance = format!("{base}/edu.attendance");
    let csrf = g.get(&attendance).await.csrf();
    let refused = g.post(&attendance, &[("csrf", &csrf), ("date", "2030-11-14"), ("kind", "vacances")]).await;
    assert!(refused.status == 400 && refused.body.contains("Choisissez « Absence » ou « Retard »"), "{}", refused.body);
    let added = g.post(&attendance, &[("csrf", &csrf), ("date", "2030-11-14"), ("kind", "retard"), ("justified", "yes")]).await;
    assert_eq!(added.location(), format!("{attendance}?done=added&month=2030-11"), "{}", added.body);
    g.post(&attendance, &[("csrf", &csrf), ("date", "2030-11-20"), ("kind", "absence")]).await;
    let page = g.get(&added.location()).await;
    for needle in ["C&#39;est noté dans le calendrier", "novembre 2030", "title=\"Retard\">Ret.</abbr>", "title=\"Absence\">Abs.</abbr>", "jeudi 14 novembre 2030", "<strong>Retard</strong> · justifié", "<strong>Absence</strong> · non justifié"] {
        assert!(page.body.contains(needle), "the calendar lacks {needle}: {}", page.body);
    }
    let written: Vec<serde_json::Value> = records(&server, &family, &leo, "edu.attendance").into_iter().map(|r| r["body"].clone()).collect();
    assert_eq!(written, vec![serde_json::json!({"date": "2030-11-14", "kind": "retard", "justified": true}), serde_json::json!({"date": "2030-11-20", "kind": "absence", "justified": false})]);

    // A guardian of an adult child: no form, and a form sent anyway is refused by the gate.
    let adult = format!("/family/{family}/children/{ines}/edu.grades");
    let page = g.get(&adult).await;
    assert!(page.body.contains("Inès est majeur") && !page.body.contains("entry-submit"), "{}", page.body);
    let mut form = grade("15", "20", "2030-12-03");
    form.push(("csrf", &csrf));
    assert_eq!(g.post(&adult, &form).await.status, 403);
    assert!(records(&server, &family, &ines, "edu.grades").is_empty(), "a guardian wrote an adult's data");

    // Another family's guardian: 404, and nothing written.
    let mut durand = WebFamily::create(&server, "Durand", "bob").await;
    let other_csrf = durand.guardian.get(&format!("/family/{}", durand.family)).await.csrf();
    let mut form = grade("15", "20", "2030-12-03");
    form.push(("csrf", &other_csrf));
    assert_eq!(durand.guardian.post(&grades, &form).await.status, 404);
    assert_eq!(durand.guardian.post(&homework, &[("csrf", &other_csrf), ("subject", "x"), ("due", "2099-03-10"), ("text", "x")]).await.status, 404);
    assert_eq!(records(&server, &family, &leo, "edu.grades").len(), 1);
}

// --- in a browser ------------------------------------------------------------------------------------------------

mod browser {
    use std::time::Duration;

    use thirtyfour::prelude::*;

    use super::api_support::{Server, within};
    use super::web_support::browser::{fill, screenshots_only, shoot, wait_for};
    use super::web_support::{WEB_PASSWORD, invitation_path};
    use super::{PDF, add_child, put};


    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_guardian_looks_at_a_childs_pages_in_a_browser() {
        let Some((server, _profile, driver)) = super::web_support::browser::start().await else { return };
        let result = within(240, "the child's pages in a browser", story(&server, &driver)).await;
        driver.quit().await.unwrap();
        result
    }

    async fn story(server: &Server, driver: &WebDriver) {
        let url = |path: &str| format!("{}{path}", server.url);
        let created = server.cli(&["family", "create", "--name", "Martin", "--invite"]);
        let family = created["family_id"].as_str().unwrap().to_owned();
        let leo = add_child(server, &family, "Léo", 11);
        let today = time::OffsetDateTime::now_utc().date();
        let month = format!("{:04}-{:02}", today.year(), u8::from(today.month()));
        let subjects = ["Mathématiques", "Français", "Histoire-géographie", "Anglais"];
        for (s, subject) in subjects.iter().enumerate() {
            for n in 0..5 {
                let grade = 9 + (s * 3 + n * 5) % 11;
                let day = format!("{month}-{:02}", 1 + n * 4);
                put(server, &family, &leo, "edu.grades", &format!(r#"{{"subject": "{subject}", "title": "Contrôle n° {}", "grade": {grade}, "out_of": 20, "coefficient": {}, "date": "{day}"}}"#, n + 1, 1 + n % 2));
            }
        }
        for (day, body) in [(3, r#""kind": "absence", "half_days": 2, "justified": true, "reason": "Malade""#), (9, r#""kind": "retard", "minutes": 10, "justified": false"#), (16, r#""kind": "absence", "half_days": 1, "justified": false"#)] {
            put(server, &family, &leo, "edu.attendance", &format!(r#"{{"date": "{month}-{day:02}", {body}}}"#));
        }
        let soon = (today + time::Duration::days(2)).to_string();
        put(server, &family, &leo, "edu.homework", &format!(r#"{{"subject": "Mathématiques", "due": "{soon}", "description": "Exercices 4 à 7 page 52", "done": false}}"#));
        put(server, &family, &leo, "edu.homework", r#"{"subject": "Anglais", "due": "2020-01-06", "description": "Vocabulaire de l'unité 2", "done": true}"#);
        let hours = [("08:00", "09:00"), ("09:00", "10:00"), ("10:15", "11:15"), ("13:30", "14:30")];
        for weekday in 1..=5 {
            for (h, (start, end)) in hours.iter().enumerate() {
                let subject = subjects[(weekday + h) % subjects.len()];
                put(server, &family, &leo, "edu.timetable", &format!(r#"{{"weekday": {weekday}, "start": "{start}", "end": "{end}", "subject": "{subject}", "room": "B{}"}}"#, 10 + h));
            }
        }
        put(server, &family, &leo, "edu.followup", r#"{"date": "2030-12-03", "author": "Mme Lefèvre, professeure principale", "text": "Bon début d'année. Léo participe davantage à l'oral."}"#);
        put(server, &family, &leo, "edu.certificates", r#"{"title": "Certification Pix", "issuer": "Pix", "date": "2030-06-20", "level": "Niveau 3"}"#);
        let dir = tempfile::tempdir().unwrap();
        let pdf = dir.path().join("bulletin-T1.pdf");
        std::fs::write(&pdf, PDF).unwrap();
        server.cli(&["file", "put", "--family", &family, "--child", &leo, "--doctype", "edu.report-cards", pdf.to_str().unwrap()]);

        driver.goto(url("/lang/fr?next=/sign-in")).await.unwrap();
        driver.goto(url(&invitation_path(created["invitation"].as_str().unwrap()))).await.unwrap();
        fill(driver, "name", "Claire Martin").await;
        fill(driver, "login", "claire").await;
        fill(driver, "password", WEB_PASSWORD).await;
        fill(driver, "password2", WEB_PASSWORD).await;
        driver.find(By::Css("main form button")).await.unwrap().click().await.unwrap();
        wait_for(driver, &["Votre compte est créé"]).await;
        fill(driver, "login", "claire").await;
        fill(driver, "password", WEB_PASSWORD).await;
        driver.find(By::Css("main form button")).await.unwrap().click().await.unwrap();
        wait_for(driver, &["Bonjour Claire Martin", "Léo"]).await;

        // From home to the child's page, then each collection.
        driver.find(By::Css("a.child-page")).await.unwrap().click().await.unwrap();
        wait_for(driver, &["Notes", "Carnet de suivi", "Emploi du temps"]).await;
        shoot(driver, "child-overview").await;
        driver.find(By::Id("tile-edu-grades")).await.unwrap().click().await.unwrap();
        wait_for(driver, &["Les notes de Léo", "Moyenne générale"]).await;
        assert_eq!(driver.find_all(By::Css("svg.chart")).await.unwrap().len(), subjects.len());
        shoot(driver, "child-grades").await;
        // A grade added from the form: above its scale it is refused with what to fix, then corrected.
        fill(driver, "entry-subject", "Physique-chimie").await;
        fill(driver, "entry-grade", "23").await;
        driver.find(By::Id("entry-submit")).await.unwrap().click().await.unwrap();
        wait_for(driver, &["La note 23 dépasse le barème : elle est sur 20."]).await;
        shoot(driver, "child-grades-refused").await;
        assert_eq!(driver.find(By::Id("entry-subject")).await.unwrap().value().await.unwrap().as_deref(), Some("Physique-chimie"), "the form keeps what was typed");
        fill(driver, "entry-grade", "16,5").await;
        driver.find(By::Id("entry-submit")).await.unwrap().click().await.unwrap();
        let text = wait_for(driver, &["La note est ajoutée", "Physique-chimie", "16,5/20"]).await;
        assert!(!text.contains("dépasse le barème"), "{text}");
        let base = format!("/family/{family}/children/{leo}");
        driver.goto(url(&format!("{base}/edu.attendance"))).await.unwrap();
        wait_for(driver, &["Abs.", "Ret.", "Mois précédent"]).await;
        shoot(driver, "child-attendance").await;
        // A late arrival, excused, marked from the form (dated today, as the form has it).
        driver.find(By::Id("entry-late")).await.unwrap().click().await.unwrap();
        driver.find(By::Id("entry-justified")).await.unwrap().click().await.unwrap();
        driver.find(By::Id("entry-submit")).await.unwrap().click().await.unwrap();
        wait_for(driver, &["C'est noté dans le calendrier", "Retard · justifié"]).await;
        shoot(driver, "child-attendance-added").await;
        driver.find(By::Id("previous-month")).await.unwrap().click().await.unwrap();
        wait_for(driver, &["Ni absence ni retard ce mois-ci"]).await;
        driver.goto(url(&format!("{base}/edu.homework"))).await.unwrap();
        wait_for(driver, &["Exercices 4 à 7"]).await;
        shoot(driver, "child-homework").await;
        // Homework added from the form, due tomorrow (typed as the date field's value: its format is the browser's).
        let tomorrow = (today + time::Duration::days(1)).to_string();
        fill(driver, "entry-subject", "Histoire-géographie").await;
        driver.execute("document.getElementById('entry-due').value = arguments[0];", vec![serde_json::json!(tomorrow)]).await.unwrap();
        fill(driver, "entry-text", "Apprendre la leçon sur la Révolution").await;
        driver.find(By::Id("entry-submit")).await.unwrap().click().await.unwrap();
        wait_for(driver, &["Le devoir est ajouté", "Apprendre la leçon sur la Révolution"]).await;
        driver.goto(url(&format!("{base}/edu.timetable"))).await.unwrap();
        wait_for(driver, &["Lundi", "Vendredi", "B10"]).await;
        shoot(driver, "child-timetable").await;
        driver.goto(url(&format!("{base}/edu.certificates"))).await.unwrap();
        wait_for(driver, &["Certification Pix", "Niveau 3"]).await;
        shoot(driver, "child-certificates").await;

        // The follow-up notebook: an entry added from the form appears, signed.
        driver.goto(url(&format!("{base}/edu.followup"))).await.unwrap();
        wait_for(driver, &["Mme Lefèvre"]).await;
        fill(driver, "note-text", "Léo sera absent vendredi matin (rendez-vous chez l'orthodontiste).").await;
        driver.find(By::Id("note-submit")).await.unwrap().click().await.unwrap();
        let text = wait_for(driver, &["Votre message est ajouté au carnet", "Léo sera absent vendredi matin"]).await;
        assert!(text.contains("Claire Martin"), "{text}");
        shoot(driver, "child-followup").await;

        // The report cards: the PDF link opens the PDF in the browser itself.
        driver.goto(url(&format!("{base}/edu.report-cards"))).await.unwrap();
        wait_for(driver, &["bulletin-T1.pdf", "Télécharger", "Voir"]).await;
        shoot(driver, "child-report-cards").await;
        let view = driver.find(By::Css("a[id^='view-']")).await.unwrap();
        let href = view.attr("href").await.unwrap().unwrap();
        assert!(href.ends_with("/view"), "{href}");
        view.click().await.unwrap();
        for _ in 0..50 {
            if driver.current_url().await.unwrap().as_str().ends_with("/view") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(driver.current_url().await.unwrap().as_str().ends_with("/view"), "the PDF opened in the browser");
        tokio::time::sleep(Duration::from_millis(800)).await;
        screenshots_only(driver, "child-pdf").await;
    }
}

/// A learning platform's export imported from the activities page: refused whole with the statement named, then
/// kept partly when asked, then a second time adds nothing; without the CSRF token nothing happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platforms_export_is_imported_from_the_activities_page() {
    within(120, "the activities' import", activities_import()).await;
}

async fn activities_import() {
    let server = Server::start(Backend::Sqlite).await;
    let mut martin = WebFamily::create(&server, "Martin", "claire").await;
    let family = martin.family.clone();
    let leo = add_child(&server, &family, "Léo", 11);
    let g = &mut martin.guardian;
    let activities = format!("/family/{family}/children/{leo}/edu.activity");
    let page = g.get(&activities).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("une plateforme (xAPI)") && page.body.contains(&format!("action=\"{activities}/import\"")), "{}", page.body);
    let csrf = page.csrf();
    let statements = [
        r#"{"id": "5f6b2a36-2b7e-4c47-9e0c-6b8f0a1d2c01", "actor": {"mbox": "mailto:leo@example.org"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed", "display": {"fr-FR": "a réussi"}}, "object": {"id": "http://ent.example/quiz/fractions", "definition": {"name": {"fr-FR": "Quiz sur les fractions"}}}, "result": {"score": {"raw": 17, "max": 20}}, "timestamp": "2030-11-20T10:00:00Z"}"#,
        r#"{"actor": {"name": "sans identifiant"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"}, "object": {"id": "http://ent.example/x"}}"#,
    ]
    .join("\n");
    let import = format!("{activities}/import");
    let file = ("file", "export.jsonl", statements.as_bytes());

    let refused = g.post_multipart(&import, &[("csrf", "forged")], file).await;
    assert_eq!(refused.status, 403);
    let refused = g.post_multipart(&import, &[("csrf", &csrf)], file).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("Une déclaration est refusée : rien n&#39;a été importé"), "{}", refused.body);
    assert!(refused.body.contains("Ligne 2") && refused.body.contains("agent.ifi.exactly-one"), "{}", refused.body);
    assert!(!g.get(&activities).await.body.contains("Quiz sur les fractions"), "nothing was imported");

    let kept = g.post_multipart(&import, &[("csrf", &csrf), ("partial", "on")], file).await;
    assert_eq!(kept.status, 200, "{}", kept.body);
    assert!(kept.body.contains("2 données importées, 0 déjà là, 1 déclaration refusée"), "{}", kept.body);
    let listed = g.get(&activities).await;
    assert!(listed.body.contains("Quiz sur les fractions"), "{}", listed.body);
    assert!(!listed.body.contains("mailto:leo@example.org"), "the statement kept whole is not dumped on the page");
    assert!(g.get(&format!("/family/{family}/children/{leo}/edu.grades")).await.body.contains("17/20"), "its score is a grade");
    let again = g.post_multipart(&import, &[("csrf", &csrf), ("partial", "on")], file).await;
    assert!(again.body.contains("Rien de nouveau, 2 déjà là"), "{}", again.body);

    // An imported certificate says what its signature check found, as it is.
    for (title, verification) in [
        ("Badge robotique", r#"{"status": "not_verified", "reason": "la clé est publiée sur https://example.org/key, hors ligne"}"#),
        ("Badge natation", r#"{"status": "verified", "method": "VC-JWT EdDSA"}"#),
    ] {
        put(&server, &family, &leo, "edu.certificates", &format!(r#"{{"title": "{title}", "issuer": "Club", "date": "2030-06-01", "verification": {verification}}}"#));
    }
    let certificates = g.get(&format!("/family/{family}/children/{leo}/edu.certificates")).await.body;
    assert!(certificates.contains("non vérifiée (la clé est publiée sur https://example.org/key, hors ligne)"), "{certificates}");
    assert!(certificates.contains("<dd>vérifiée</dd>"), "{certificates}");

    // A badge comes in on the certificates page: the shared test data's baked PNG (OB 2.0, hosted: not verified).
    let Some(testdata) = std::env::var_os("CARTABLE_TESTDATA") else {
        eprintln!("the badge's import is skipped: CARTABLE_TESTDATA is not set (scripts/test.sh sets it)");
        return;
    };
    let png = std::fs::read(std::path::Path::new(&testdata).join("badges/1edtech-dc-validator/inspector-vc/src/test/resources/ob20/simple-badge.png")).unwrap();
    let certificates_page = format!("/family/{family}/children/{leo}/edu.certificates");
    assert!(g.get(&certificates_page).await.body.contains(&format!("action=\"{certificates_page}/import\"")), "the page has the badge form");
    let done = g.post_multipart(&format!("{certificates_page}/import"), &[("csrf", &csrf)], ("file", "badge.png", &png)).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Un badge importé, 0 déjà là, 0 refusé"), "{}", done.body);
    let shown = g.get(&certificates_page).await.body;
    assert!(shown.contains("non vérifiée ("), "the badge's check is shown: {shown}");
}
