//! The web UI over plain HTTP, against the real server: the invitation, signing in and out, the security headers,
//! forms refused without their CSRF token (and nothing changed), decisions made from the pages reaching the API's
//! services, another family's session answered 404, and the languages.

mod api_support;
mod cli_support;
mod web_support;

use std::time::Duration;

use api_support::{Backend, Server, backends, within};
use cartable_sdk::SdkError;
use web_support::{Visitor, WEB_PASSWORD, WebFamily, grades_request, invitation_path, sign_in, start_demo};

fn grant_state(server: &Server, family: &str, grant: &str) -> String {
    let list = server.cli(&["grant", "list", "--family", family]);
    let grants = list["grants"].as_array().unwrap_or_else(|| panic!("no grants in {list}"));
    let grant = grants.iter().find(|g| g["id"].as_str() == Some(grant) || g["grant_id"].as_str() == Some(grant)).unwrap_or_else(|| panic!("no {grant} in {list}"));
    grant["state"].as_str().unwrap().to_owned()
}

/// A child with a grade, added by the operator; returns the child's id.
fn child_with_grades(server: &Server, family: &str) -> String {
    let birth = api_support::born_years_ago(11);
    let child = server.cli(&["member", "add", "--family", family, "--role", "child", "--name", "Léo", "--birth-date", &birth]);
    let child = child["member_id"].as_str().unwrap().to_owned();
    server.cli_in(&["record", "put", "--family", family, "--child", &child, "--doctype", "edu.grades", "--body", "-"], Some(r#"{"subject": "maths", "grade": 15.5}"#));
    child
}

/// The invitation form's fields.
fn fields<'a>(csrf: &'a str, password2: &'a str) -> [(&'static str, &'a str); 5] {
    [("csrf", csrf), ("name", "Claire Martin"), ("login", "claire"), ("password", WEB_PASSWORD), ("password2", password2)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_lets_a_family_in_and_decides_through_the_gate() {
    for backend in backends() {
        within(180, "the web UI story", story(backend)).await;
    }
}

async fn story(backend: Backend) {
    let server = Server::start(backend).await;

    // The operator's invitation: one page, one use, nothing changed by a form without its token.
    let created = server.cli(&["family", "create", "--name", "Martin", "--invite"]);
    let family = created["family_id"].as_str().unwrap().to_owned();
    let link = created["invitation"].as_str().unwrap();
    assert!(link.starts_with("http://") && link.contains("/invitation/"), "{link}");
    let path = invitation_path(link);
    let mut claire = Visitor::new(&server);
    let page = claire.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html lang=\"fr\">") && page.body.contains("Créer mon compte"), "{}", page.body);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(!page.body.contains("<script"), "the pages have no script");
    let csrf = page.csrf();
    for forged in ["", "not-the-token"] {
        let refused = claire.post(&path, &fields(forged, WEB_PASSWORD)).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(refused.body.contains("formulaire a expiré"), "{}", refused.body);
    }
    assert_eq!(claire.get(&path).await.status, 200, "a refused form used the invitation up");
    assert_eq!(claire.post(&path, &fields(&csrf, "un autre mot de passe")).await.status, 400);
    let accepted = claire.post(&path, &fields(&csrf, WEB_PASSWORD)).await;
    assert_eq!((accepted.status, accepted.location().as_str()), (303, "/sign-in?done=account"), "{}", accepted.body);
    assert_eq!(claire.get(&path).await.status, 404, "an invitation is used once");
    assert!(!server.log_text().contains(&path[12..]), "the invitation's token reached the log");

    // Signing in: a wrong password is refused by the API's limiter; the right one opens the family's home.
    let page = claire.get("/sign-in").await;
    let csrf = page.csrf();
    let wrong = claire.post("/sign-in", &[("csrf", &csrf), ("login", "claire"), ("password", "pas le bon mot de passe")]).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Identifiant ou mot de passe incorrect"));
    let refused = claire.post("/sign-in", &[("login", "claire"), ("password", WEB_PASSWORD)]).await;
    assert_eq!(refused.status, 403, "a sign-in form without its token");
    let signed = sign_in(&mut claire, "Claire", WEB_PASSWORD).await;
    assert_eq!(signed.location(), format!("/family/{family}"));
    let home = claire.get(&signed.location()).await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("Bonjour Claire Martin"), "{}", home.body);
    assert_eq!(claire.get("/").await.location(), format!("/family/{family}"));

    // A service asks; the request is explained in words on the requests page and the home page.
    let child = child_with_grades(&server, &family);
    let client = server.client();
    let service = client.service(client.register_service("Tutorat Plus").await.unwrap());
    let request = grades_request(&family, &child, "suivi des devoirs", 30);
    let pending = service.request_access(&request).await.unwrap();
    let grant = pending.request_id.0.to_string();
    let requests = claire.get(&format!("/family/{family}/requests")).await;
    assert_eq!(requests.status, 200);
    for words in ["Tutorat Plus", "Léo", "les notes", "lire et voir la liste", "suivi des devoirs", "votre consentement", "30 jours"] {
        assert!(requests.body.contains(words), "`{words}` is not on the requests page: {}", requests.body);
    }
    assert!(!requests.body.contains("edu.grades"), "doctypes are said in words");
    assert!(claire.get(&format!("/family/{family}")).await.body.contains("Tutorat Plus"), "the home page shows the pending request");

    // Approving: without the token nothing changes; with it the grant is active and the service gets its token.
    let approve = format!("/family/{family}/requests/{grant}/approve");
    let csrf = requests.csrf();
    assert_eq!(claire.post(&approve, &[("csrf", "forged")]).await.status, 403);
    assert_eq!(claire.post(&approve, &[]).await.status, 403);
    assert_eq!(grant_state(&server, &family, &grant), "requested");
    let done = claire.post(&approve, &[("csrf", &csrf)]).await;
    assert_eq!((done.status, done.location()), (303, format!("/family/{family}/requests?done=active")), "{}", done.body);
    assert_eq!(grant_state(&server, &family, &grant), "active");
    let access = service.wait_for_approval(&pending, Duration::from_secs(20)).await.unwrap();
    let listed = access.list_records("edu.grades", None, 10).await.unwrap();
    access.read_record(listed.records[0].record_id).await.unwrap();
    let history = claire.get(&format!("/family/{family}/history")).await;
    assert!(history.body.contains("Tutorat Plus</strong> a consulté (lire) les notes de Léo"), "{}", history.body);

    // The child's consent history (art. 15), linked from the home page: the grant and the read, and the file with
    // a proof for each entry that checks offline.
    let home = claire.get(&format!("/family/{family}")).await;
    let report_path = format!("/family/{family}/children/{child}/report");
    assert!(home.body.contains(&report_path), "the home page links to Léo's consent history");
    let report = claire.get(&report_path).await;
    assert_eq!(report.status, 200);
    for words in ["Droit d&#39;accès : Léo", "Tutorat Plus", "suivi des devoirs", "a consulté (lire) les notes de Léo", "a demandé l&#39;accès"] {
        assert!(report.body.contains(words), "`{words}` is not on the report page: {}", report.body);
    }
    let file = claire.get(&format!("{report_path}.json")).await;
    assert_eq!(file.status, 200);
    assert!(file.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let report: cartable_sdk::AccessReport = serde_json::from_str(&file.body).unwrap();
    let verifier = cartable_consent::ledger::LedgerVerifier::parse(&report.verifier_key).unwrap();
    assert!(report.entries.len() >= 3, "request, approval, reads: {:?}", report.entries);
    for entry in &report.entries {
        cartable_consent::ledger::TlogProof::parse(&entry.proof).unwrap().verify_entry(&verifier).expect("each proof checks offline");
    }

    // Another family's guardian: every page and form of this family is a 404, and nothing changes.
    let mut other = WebFamily::create(&server, "Durand", "paul").await;
    for page in ["", "/requests", "/grants", "/history", &format!("/children/{child}/report"), &format!("/children/{child}/report.json")] {
        let answer = other.guardian.get(&format!("/family/{family}{page}")).await;
        assert_eq!(answer.status, 404, "{page}: {}", answer.body);
    }
    let other_home = other.guardian.get(&format!("/family/{}", other.family)).await;
    let other_csrf = other_home.csrf();
    let revoke = format!("/family/{family}/grants/{grant}/revoke");
    assert_eq!(other.guardian.post(&revoke, &[("csrf", &other_csrf)]).await.status, 404);
    assert_eq!(grant_state(&server, &family, &grant), "active");

    // Revoking: one button, and the service's next read is refused.
    let grants = claire.get(&format!("/family/{family}/grants")).await;
    assert!(grants.body.contains(&format!("grant.{grant}")), "the grant's Cedar policy is shown: {}", grants.body);
    // The grant's own accesses: the service's list and read, under this grant.
    let card = &grants.body[grants.body.find(&format!("id=\"grant-{grant}\"")).unwrap()..];
    let card = &card[..card.find("</article>").unwrap()];
    assert!(card.contains("accès récents") && card.contains("a consulté (lire) les notes de Léo"), "the grant's accesses: {card}");
    assert_eq!(claire.post(&revoke, &[("csrf", "forged")]).await.status, 403);
    assert_eq!(grant_state(&server, &family, &grant), "active");
    let done = claire.post(&revoke, &[("csrf", &grants.csrf())]).await;
    assert_eq!(done.location(), format!("/family/{family}/grants?done=revoked"));
    assert!(matches!(access.read_record(listed.records[0].record_id).await, Err(SdkError::Revoked { .. })));

    // English: from Accept-Language on a first visit, then remembered once chosen.
    let mut visitor = Visitor::new(&server);
    visitor.language = Some("en-GB,en;q=0.8");
    assert!(visitor.get("/sign-in").await.body.contains("Sign in to see"));
    visitor.language = None;
    assert!(visitor.get("/sign-in").await.body.contains("Connectez-vous"));
    let switched = visitor.get("/lang/en?next=/sign-in").await;
    assert_eq!(switched.location(), "/sign-in");
    assert!(visitor.get("/sign-in").await.body.contains("Sign in to see"));
    assert_eq!(visitor.get("/lang/en?next=//elsewhere.example").await.location(), "/");

    // Signing out ends the session on the server: the old cookie opens nothing.
    let cookie = claire.cookies.clone();
    let home = claire.get(&format!("/family/{family}")).await;
    let out = claire.post("/sign-out", &[("csrf", &home.csrf())]).await;
    assert_eq!(out.location(), "/sign-in?done=signed-out");
    claire.cookies = cookie;
    assert_eq!(claire.get(&format!("/family/{family}")).await.location(), "/sign-in");
    // Unknown pages are pages; unknown API paths stay JSON.
    assert!(claire.get("/nowhere").await.body.contains("<html"));
    assert!(claire.get("/api/v1/nowhere").await.body.contains("\"not_found\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_is_made_once_and_its_pages_open() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, url, said) = start_demo(&data);
    assert!(said.iter().any(|l| l.contains("demo family created")), "{said:?}");
    assert!(said.iter().any(|l| l.contains("claire / cartable-demo")), "{said:?}");
    let mut claire = Visitor::at(&url);
    let signed = sign_in(&mut claire, "claire", "cartable-demo").await;
    let home = claire.get(&signed.location()).await;
    for words in ["Bonjour Claire Martin", "Léo", "Zoé", "Inès", "les notes", "les absences et retards", "les devoirs", "le carnet de suivi", "Lycée en ligne", "Tutorat Plus"] {
        assert!(home.body.contains(words), "`{words}` is not on the demo's home page: {}", home.body);
    }
    let family = signed.location();
    let requests = claire.get(&format!("{family}/requests")).await;
    assert!(requests.body.contains("Zoé a 15 ans : son accord est nécessaire"), "{}", requests.body);
    // Each service says what it is, in French.
    assert!(requests.body.contains("Plateforme d&#39;exercices en ligne pour réviser les programmes du collège et du lycée"), "{}", requests.body);
    let grants = claire.get(&format!("{family}/grants")).await;
    assert!(grants.body.contains("Cours de soutien scolaire à domicile et en ligne, du CP à la terminale"), "{}", grants.body);
    for page in ["/grants", "/history"] {
        assert_eq!(claire.get(&format!("{family}{page}")).await.status, 200);
    }
    assert!(claire.get(&format!("{family}/history")).await.body.contains("Tutorat Plus</strong> a consulté (lire) les notes de Léo"));
    let _ = first.kill();
    let _ = first.wait();
    let (mut second, _, said) = start_demo(&data);
    assert!(said.iter().any(|l| l.contains("exists already")), "{said:?}");
    let _ = second.kill();
    let _ = second.wait();
}

/// A service's description: given at registration (over the API or by the operator's CLI), refused with invisible
/// formatting characters, control characters or beyond 500 characters, and shown beside the service's name on the
/// request cards (requests page and home) and the grants page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_services_description_is_shown_where_it_asks() {
    for backend in backends() {
        within(180, "services' descriptions", descriptions(backend)).await;
    }
}

async fn descriptions(backend: Backend) {
    let server = Server::start(backend).await;
    let WebFamily { family, guardian: mut claire, .. } = WebFamily::create(&server, "Martin", "claire").await;
    let child = child_with_grades(&server, &family);
    let client = server.client();

    // Refused over the API, each with its reason; a description of 500 characters passes.
    for (description, reason) in [("Soutien\u{202E}scolaire", "formatting"), ("Soutien\nscolaire", "control"), (&"é".repeat(501)[..], "500 characters")] {
        let err = client.register_described_service("Soutien", description).await.unwrap_err();
        assert!(matches!(err, SdkError::InvalidRequest { .. }) && err.to_string().contains(reason), "{description:?}: {err:?}");
    }
    client.register_described_service("Au plus long", &"é".repeat(500)).await.unwrap();
    let described = "Cours particuliers en ligne, du CP à la terminale";
    let tutoring = client.service(client.register_described_service("Tutorat Plus", described).await.unwrap());
    let plain = client.service(client.register_service("Sans description").await.unwrap());
    // By the operator, who approves it at once.
    let by_cli = "Orientation au lycée : rendez-vous et conseils";
    let registered = server.cli(&["service", "register", "--name", "Orientation", "--description", by_cli]);
    let error = server.cli_fails(&["service", "register", "--name", "Orientation", "--description", "Orientation\u{2066}"]);
    assert!(error.contains("formatting"), "{error}");

    let tutoring_grant = tutoring.request_access(&grades_request(&family, &child, "soutien scolaire", 30)).await.unwrap().request_id.0.to_string();
    plain.request_access(&grades_request(&family, &child, "sans description", 30)).await.unwrap();
    let service = registered["service_id"].as_str().unwrap();
    server.cli(&["request", "create", "--service", service, "--family", &family, "--child", &child, "--doctype", "edu.grades", "--actions", "read", "--purpose", "orientation", "--days", "30"]);

    let requests = claire.get(&format!("/family/{family}/requests")).await;
    for words in ["Ce que le service dit de lui", described, "Orientation au lycée : rendez-vous et conseils", "Sans description"] {
        assert!(requests.body.contains(words), "`{words}` is not on the requests page: {}", requests.body);
    }
    // Only the services that gave one have a description line: one for each of the two.
    assert_eq!(requests.body.matches("Ce que le service dit de lui").count(), 2, "{}", requests.body);
    assert!(claire.get(&format!("/family/{family}")).await.body.contains(described), "the home page's request card");

    let csrf = requests.csrf();
    let done = claire.post(&format!("/family/{family}/requests/{tutoring_grant}/approve"), &[("csrf", &csrf)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let grants = claire.get(&format!("/family/{family}/grants")).await;
    let card = &grants.body[grants.body.find(&format!("id=\"grant-{tutoring_grant}\"")).expect("the grant's card")..];
    assert!(card[..card.find("</article>").unwrap()].contains(described), "{}", grants.body);

    // In English, the same description (as the service wrote it) under an English label.
    claire.language = Some("en");
    claire.cookies.remove("cartable_lang");
    let english = claire.get(&format!("/family/{family}/grants")).await;
    assert!(english.body.contains("What the service says it is") && english.body.contains(described), "{}", english.body);
}
