//! The family's settings and the ways in, over plain HTTP against the real server: a guardian invites a 15-year-old
//! (never a younger child), who accepts, signs in, sees the request about her and co-approves it; a second guardian
//! is invited and signs in; a password change ends the other sessions; a guardian sets a minor's password, never an
//! adult's; prohibitions set and lifted from the page reach the family's policies; the history is filtered, verified,
//! and its proofs check offline; the family is erased only once its name is typed back. Every new form refuses a
//! missing or wrong CSRF token with nothing changed, and another family's guardian gets 404 on every new page and
//! form. In a browser (when `CARTABLE_TEST_WEBDRIVER` is set): the teenager's co-approval from her own session, and
//! the settings page at phone and desktop sizes.

mod api_support;
mod cli_support;
mod web_support;

use api_support::{Backend, Server, backends, born_years_ago, within};
use web_support::{Answer, Visitor, WEB_PASSWORD, WebFamily, grades_request, invitation_path, sign_in, start_demo};

const NEW_PASSWORD: &str = "un tout autre mot de passe";

fn grant_state(server: &Server, family: &str, grant: &str) -> String {
    let list = server.cli(&["grant", "list", "--family", family]);
    let grants = list["grants"].as_array().unwrap_or_else(|| panic!("no grants in {list}"));
    let grant = grants.iter().find(|g| g["id"].as_str() == Some(grant) || g["grant_id"].as_str() == Some(grant)).unwrap_or_else(|| panic!("no {grant} in {list}"));
    grant["state"].as_str().unwrap().to_owned()
}

fn policies(server: &Server, family: &str) -> String {
    server.cli(&["policy", "show", "--family", family])["policies"].as_str().unwrap().to_owned()
}

fn add_child(server: &Server, family: &str, name: &str, years: i32) -> String {
    let child = server.cli(&["member", "add", "--family", family, "--role", "child", "--name", name, "--birth-date", &born_years_ago(years)]);
    child["member_id"].as_str().unwrap().to_owned()
}

/// The invitation link a settings page shows once, whole.
fn shown_full_link(answer: &Answer) -> String {
    let at = answer.body.find("id=\"invitation-link\">").unwrap_or_else(|| panic!("no invitation link in {}", answer.body));
    let rest = &answer.body[at + "id=\"invitation-link\">".len()..];
    rest[..rest.find('<').unwrap()].to_owned()
}

/// The path of the invitation link a settings page shows once.
fn shown_link(answer: &Answer) -> String {
    invitation_path(&shown_full_link(answer))
}

/// Accepts an invitation as a new visitor and signs in.
async fn accept(server: &Server, path: &str, name: Option<&str>, login: &str) -> Visitor {
    let mut visitor = Visitor::new(server);
    let page = visitor.get(path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.csrf();
    let mut form = vec![("csrf", csrf.as_str()), ("login", login), ("password", WEB_PASSWORD), ("password2", WEB_PASSWORD)];
    if let Some(name) = name {
        form.push(("name", name));
    }
    let done = visitor.post(path, &form).await;
    assert_eq!((done.status, done.location().as_str()), (303, "/sign-in?done=account"), "{}", done.body);
    sign_in(&mut visitor, login, WEB_PASSWORD).await;
    visitor
}

/// The first receipt link of a history page: its entry index.
fn first_receipt(body: &str, family: &str) -> u64 {
    let prefix = format!("href=\"/family/{family}/history/");
    let at = body.find(&prefix).unwrap_or_else(|| panic!("no receipt link in {body}"));
    let rest = &body[at + prefix.len()..];
    rest[..rest.find('"').unwrap()].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_runs_its_settings_and_a_teenager_co_approves() {
    for backend in backends() {
        within(240, "the settings story", story(backend)).await;
    }
}

async fn story(backend: Backend) {
    let server = Server::start(backend).await;
    let WebFamily { family, guardian: mut claire, .. } = WebFamily::create(&server, "Martin", "claire").await;
    let zoe = add_child(&server, &family, "Zoé", 15);
    let leo = add_child(&server, &family, "Léo", 11);
    let ines = add_child(&server, &family, "Inès", 19);
    server.cli_in(&["record", "put", "--family", &family, "--child", &zoe, "--doctype", "edu.grades", "--body", "-"], Some(r#"{"subject": "maths", "grade": 14}"#));
    let settings = format!("/family/{family}/settings");

    // The settings page: members with roles and ages; a link to sign in only for the child who is 15.
    let page = claire.get(&settings).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for words in ["Réglages de la famille", "Claire Martin", "Zoé", "15 ans", "Léo", "11 ans", "Inès", "Pas d&#39;accès avant 15 ans", "Ne jamais partager", "Supprimer la famille"] {
        assert!(page.body.contains(words), "`{words}` is not on the settings page: {}", page.body);
    }
    assert!(page.body.contains(&format!("id=\"invite-{zoe}\"")) && page.body.contains(&format!("id=\"invite-{ines}\"")));
    assert!(!page.body.contains(&format!("id=\"invite-{leo}\"")), "no sign-in for a child under 15");
    assert!(page.body.contains("href=\"/family/") && page.body.contains("/settings\" aria-current=\"page\">Réglages</a>"), "the menu entry");
    let csrf = page.csrf();

    // Every new form refuses a missing or wrong token, and nothing changes.
    let child_password = format!("{settings}/children/{zoe}/password");
    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("{settings}/invite-guardian"), vec![]),
        (format!("{settings}/invite-child"), vec![("child", zoe.as_str())]),
        (format!("{settings}/prohibitions"), vec![("doctype", "health.pai"), ("change", "forbid"), ("scope", "family")]),
        (child_password.clone(), vec![("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)]),
        (format!("{settings}/delete"), vec![("name", "Martin")]),
        (format!("/family/{family}/password"), vec![("current", WEB_PASSWORD), ("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)]),
    ];
    for (path, fields) in &forms {
        for forged in ["", "not-the-token"] {
            let mut form = fields.clone();
            form.push(("csrf", forged));
            let refused = claire.post(path, &form).await;
            assert_eq!(refused.status, 403, "{path} with `{forged}`: {}", refused.body);
        }
        assert_eq!(claire.post(path, fields).await.status, 403, "{path} without a token");
    }
    let page = claire.get(&settings).await;
    assert!(!page.body.contains("Invitations en attente"), "a refused form made an invitation");
    assert!(!policies(&server, &family).contains("forbid.health.pai"));
    let signed = sign_in(&mut Visitor::new(&server), "claire", WEB_PASSWORD).await;
    assert_eq!(signed.status, 303, "the password did not change");

    // A child under 15 cannot be invited, whatever the form says.
    let refused = claire.post(&format!("{settings}/invite-child"), &[("csrf", &csrf), ("child", &leo)]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("qu&#39;à partir de 15 ans"), "{}", refused.body);
    assert!(!claire.get(&settings).await.body.contains("Invitations en attente"));

    // Zoé's invitation: a one-time link shown once, then listed as pending (without its token).
    let invited = claire.post(&format!("{settings}/invite-child"), &[("csrf", &csrf), ("child", &zoe)]).await;
    assert_eq!(invited.status, 200, "{}", invited.body);
    assert!(invited.body.contains("Lien d&#39;invitation pour Zoé"), "{}", invited.body);
    // Without a configured public address, the link is built from the address the guardian used.
    assert!(shown_full_link(&invited).starts_with(&format!("{}/invitation/", server.url)), "{}", shown_full_link(&invited));
    let zoe_link = shown_link(&invited);
    let page = claire.get(&settings).await;
    assert!(page.body.contains("Invitations en attente") && page.body.contains("Accès de Zoé"), "{}", page.body);
    assert!(!page.body.contains(&zoe_link[12..]), "the link is shown once");

    // A service asks about Zoé: a guardian and Zoé herself must approve.
    let client = server.client();
    let service = client.service(client.register_service("Lycée en ligne").await.unwrap());
    let service_id = service.id().to_string();
    let pending = service.request_access(&grades_request(&family, &zoe, "exercices adaptés", 30)).await.unwrap();
    let grant = pending.request_id.0.to_string();

    // Zoé accepts (her name is known: not asked), signs in on the same page and sees her own home.
    let mut teen = Visitor::new(&server);
    let welcome = teen.get(&zoe_link).await;
    assert!(welcome.body.contains("Vos parents vous invitent") && !welcome.body.contains("id=\"name\""), "{}", welcome.body);
    let mut teen = accept(&server, &zoe_link, None, "zoe").await;
    assert_eq!(teen.get(&zoe_link).await.status, 404, "an invitation is used once");
    let home = teen.get(&format!("/family/{family}")).await;
    assert_eq!(home.status, 200, "{}", home.body);
    for words in ["Bonjour Zoé", "Mes données", "les notes", "Lycée en ligne", "exercices adaptés", &format!("id=\"approve-{grant}\"")] {
        assert!(home.body.contains(words), "`{words}` is not on Zoé's home: {}", home.body);
    }
    assert!(!home.body.contains("Léo") && !home.body.contains("Inès"), "her siblings' data is not on her home: {}", home.body);
    for page in ["/requests", "/grants", "/history", "/settings", "/password"] {
        let answer = teen.get(&format!("/family/{family}{page}")).await;
        assert_eq!(answer.status, 200, "{page}: {}", answer.body);
    }
    let teen_settings = teen.get(&settings).await;
    assert!(!teen_settings.body.contains("id=\"delete-family\"") && !teen_settings.body.contains("id=\"invite-guardian\""), "a child does not run the family");
    // Zoé reads her family: every member's name and role, her own birth date and nobody else's, on the page and
    // through the API (where her parents see every child's).
    let line = |body: &str, member: &str| -> String {
        let at = body.find(&format!("id=\"member-{member}\"")).unwrap_or_else(|| panic!("no line for {member} in {body}"));
        body[at..at + body[at..].find("</li>").unwrap()].to_owned()
    };
    assert!(line(&teen_settings.body, &zoe).contains("15 ans"), "{}", teen_settings.body);
    for (sibling, name) in [(&leo, "Léo"), (&ines, "Inès")] {
        let shown = line(&teen_settings.body, sibling);
        assert!(shown.contains(name) && !shown.contains(" ans"), "Zoé sees {name}'s name, not their age: {shown}");
        assert!(line(&claire.get(&settings).await.body, sibling).contains(" ans"), "their parents see {name}'s age");
    }
    let birth_dates = |visitor_body: &str| -> Vec<(String, String, Option<String>)> {
        let family: cartable_sdk::Family = serde_json::from_str(visitor_body).unwrap_or_else(|e| panic!("{e}: {visitor_body}"));
        let mut members: Vec<_> = family.members.into_iter().map(|m| (m.name, m.role, m.birth_date)).collect();
        members.sort();
        members
    };
    let api = format!("/api/v1/families/{family}");
    let (zoe_birth, leo_birth, ines_birth) = (api_support::born_years_ago(15), api_support::born_years_ago(11), api_support::born_years_ago(19));
    let seen_by_zoe = teen.get(&api).await;
    assert_eq!(seen_by_zoe.status, 200, "{}", seen_by_zoe.body);
    let guardian = ("Claire Martin".to_owned(), "guardian".to_owned(), None);
    let child = |name: &str, birth: Option<&String>| (name.to_owned(), "child".to_owned(), birth.cloned());
    assert_eq!(birth_dates(&seen_by_zoe.body), vec![guardian.clone(), child("Inès", None), child("Léo", None), child("Zoé", Some(&zoe_birth))]);
    let seen_by_claire = claire.get(&api).await;
    assert_eq!(birth_dates(&seen_by_claire.body), vec![guardian, child("Inès", Some(&ines_birth)), child("Léo", Some(&leo_birth)), child("Zoé", Some(&zoe_birth))]);

    // Claire approves first: the request waits for Zoé; Zoé co-approves from her session: the grant is active.
    let approve = format!("/family/{family}/requests/{grant}/approve");
    let done = claire.post(&approve, &[("csrf", &csrf)]).await;
    assert_eq!(done.location(), format!("/family/{family}/requests?done=approved"), "{}", done.body);
    assert_eq!(grant_state(&server, &family, &grant), "requested");
    let teen_csrf = teen.get(&format!("/family/{family}/requests")).await.csrf();
    let done = teen.post(&approve, &[("csrf", &teen_csrf)]).await;
    assert_eq!(done.location(), format!("/family/{family}/requests?done=active"), "{}", done.body);
    assert_eq!(grant_state(&server, &family, &grant), "active");
    // A child runs nothing of the family: no invitation, no prohibition of the family's, no erasure.
    for (path, fields) in [
        (format!("{settings}/invite-guardian"), vec![]),
        (format!("{settings}/prohibitions"), vec![("doctype", "health.pai"), ("change", "forbid"), ("scope", "family")]),
        (format!("{settings}/delete"), vec![("name", "Martin")]),
        (child_password.clone(), vec![("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)]),
    ] {
        let mut form = fields.clone();
        form.push(("csrf", &teen_csrf));
        assert_eq!(teen.post(&path, &form).await.status, 403, "{path} by Zoé");
    }

    // A second guardian: invited from the page, accepts with their name, signs in.
    let invited = claire.post(&format!("{settings}/invite-guardian"), &[("csrf", &csrf)]).await;
    assert_eq!(invited.status, 200, "{}", invited.body);
    let mut karim = accept(&server, &shown_link(&invited), Some("Karim Martin"), "karim").await;
    let home = karim.get(&format!("/family/{family}")).await;
    assert!(home.body.contains("Bonjour Karim Martin") && home.body.contains("Léo"), "{}", home.body);
    assert!(claire.get(&settings).await.body.contains("Karim Martin"));

    // Claire's password: the current one asked; her other sessions end, this one stays; the old one no longer works.
    let mut elsewhere = Visitor::new(&server);
    sign_in(&mut elsewhere, "claire", WEB_PASSWORD).await;
    let password = format!("/family/{family}/password");
    let page = claire.get(&password).await;
    assert!(page.body.contains("Mot de passe actuel"), "{}", page.body);
    let wrong = claire.post(&password, &[("csrf", &csrf), ("current", "pas le bon mot de passe"), ("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)]).await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert!(wrong.body.contains("n&#39;est pas le bon"), "{}", wrong.body);
    let mismatch = claire.post(&password, &[("csrf", &csrf), ("current", WEB_PASSWORD), ("password", NEW_PASSWORD), ("password2", "autre chose encore")]).await;
    assert_eq!(mismatch.status, 400);
    assert_eq!(elsewhere.get(&format!("/family/{family}")).await.status, 200, "refused changes end nothing");
    let changed = claire.post(&password, &[("csrf", &csrf), ("current", WEB_PASSWORD), ("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)]).await;
    assert_eq!(changed.location(), format!("{settings}?done=password"), "{}", changed.body);
    assert_eq!(claire.get(&format!("/family/{family}")).await.status, 200, "the session that changed it stays");
    assert_eq!(elsewhere.get(&format!("/family/{family}")).await.location(), "/sign-in", "the other session ended");
    let mut again = Visitor::new(&server);
    let page = again.get("/sign-in").await;
    let old = again.post("/sign-in", &[("csrf", &page.csrf()), ("login", "claire"), ("password", WEB_PASSWORD)]).await;
    assert_eq!(old.status, 401, "the old password no longer works");
    sign_in(&mut again, "claire", NEW_PASSWORD).await;

    // A guardian sets a minor's new password (her sessions end); never an adult's.
    let reset = claire.post(&child_password, &[("csrf", &csrf), ("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)]).await;
    assert_eq!(reset.location(), format!("{settings}?done=child-password"), "{}", reset.body);
    assert_eq!(teen.get(&format!("/family/{family}")).await.location(), "/sign-in");
    sign_in(&mut teen, "zoe", NEW_PASSWORD).await;
    let adult = claire.post(&format!("{settings}/children/{ines}/password"), &[("csrf", &csrf), ("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)]).await;
    assert_eq!(adult.status, 403, "{}", adult.body);
    assert!(server.vault().await.password_hash(ines.parse().unwrap()).await.unwrap().is_none(), "the adult's password was not set");

    // Prohibitions: set and lifted from the page, in the family's policies and its ledger.
    let prohibitions = format!("{settings}/prohibitions");
    let set = claire.post(&prohibitions, &[("csrf", &csrf), ("doctype", "health.pai"), ("change", "forbid"), ("scope", "family")]).await;
    assert_eq!(set.status, 303, "{}", set.body);
    assert!(policies(&server, &family).contains("forbid.health.pai"));
    let page = claire.get(&settings).await;
    assert!(page.body.contains("id=\"lift-health.pai\"") && page.body.contains("jamais partagé"), "{}", page.body);
    assert!(teen.get(&settings).await.body.contains("jamais partagé"), "Zoé sees what her parents forbade");
    let lifted = claire.post(&prohibitions, &[("csrf", &csrf), ("doctype", "health.pai"), ("change", "lift"), ("scope", "family")]).await;
    assert_eq!(lifted.status, 303);
    assert!(!policies(&server, &family).contains("forbid.health.pai"));

    // The history: filters narrow it; the ledger verifies; a proof downloaded from it checks offline.
    let history = format!("/family/{family}/history");
    let all = claire.get(&history).await;
    assert!(all.body.contains("a donné son accord") && all.body.contains("a changé une règle"), "{}", all.body);
    let requests = claire.get(&format!("{history}?event=request")).await;
    assert!(requests.body.contains("<strong>Lycée en ligne</strong> a demandé l&#39;accès") && !requests.body.contains("a donné son accord"), "{}", requests.body);
    let approvals = claire.get(&format!("{history}?event=approve")).await;
    assert!(approvals.body.contains("a donné son accord") && !approvals.body.contains("a demandé l&#39;accès") && !approvals.body.contains("a changé une règle"), "{}", approvals.body);
    let about_leo = claire.get(&format!("{history}?child={leo}")).await;
    assert!(about_leo.body.contains("Rien ne correspond") && !about_leo.body.contains("de Zoé"), "{}", about_leo.body);
    let about_zoe = claire.get(&format!("{history}?child={zoe}&service={service_id}")).await;
    assert!(about_zoe.body.contains("de Zoé") && !about_zoe.body.contains("a changé une règle"), "{}", about_zoe.body);
    let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::days(1)).date().to_string();
    let yesterday = (time::OffsetDateTime::now_utc() - time::Duration::days(1)).date().to_string();
    assert!(claire.get(&format!("{history}?from={tomorrow}")).await.body.contains("Rien ne correspond"));
    assert!(claire.get(&format!("{history}?to={yesterday}")).await.body.contains("Rien ne correspond"));
    assert!(!claire.get(&format!("{history}?from={yesterday}&to={tomorrow}")).await.body.contains("Rien ne correspond"));
    assert_eq!(claire.get(&format!("{history}?event=nothing")).await.status, 400);
    let verified = claire.get(&format!("{history}?verify=1")).await;
    assert!(verified.body.contains("Le registre est intact") && verified.body.contains("id=\"checkpoint\""), "{}", verified.body);
    let index = first_receipt(&approvals.body, &family);
    let receipt = claire.get(&format!("{history}/{index}")).await;
    assert_eq!(receipt.status, 200, "{}", receipt.body);
    assert!(receipt.body.contains("Preuve d&#39;inclusion") && receipt.body.contains("a donné son accord"), "{}", receipt.body);
    let proof = claire.get(&format!("{history}/{index}/proof")).await;
    assert_eq!(proof.status, 200);
    assert!(proof.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let file = server.dir.path().join("history.tlog-proof");
    std::fs::write(&file, &proof.body).unwrap();
    let key = server.cli(&["ledger", "key"])["verifier_key"].as_str().unwrap().to_owned();
    let checked = server.cli(&["ledger", "check-proof", file.to_str().unwrap(), "--key", &key]);
    assert_eq!(checked["index"].as_u64(), Some(index), "{checked}");
    // Zoé's history is narrowed by the vault: the family's rule change is not about her, and its receipt is a 404.
    let teen_history = teen.get(&history).await;
    assert!(teen_history.body.contains("a donné son accord") && !teen_history.body.contains("a changé une règle"), "{}", teen_history.body);
    let rule = first_receipt(&claire.get(&format!("{history}?event=policy_change")).await.body, &family);
    assert_eq!(teen.get(&format!("{history}/{rule}")).await.status, 404);
    assert_eq!(teen.get(&format!("{history}/{rule}/proof")).await.status, 404);

    // Another family's guardian: 404 on every new page and form, and nothing changes.
    let mut other = WebFamily::create(&server, "Durand", "paul").await;
    for page in ["/settings", "/password", &format!("/history/{index}"), &format!("/history/{index}/proof"), "/history?event=approve", "/history?verify=1"] {
        let answer = other.guardian.get(&format!("/family/{family}{page}")).await;
        assert_eq!(answer.status, 404, "{page}: {}", answer.body);
    }
    let other_csrf = other.guardian.get(&format!("/family/{}/settings", other.family)).await.csrf();
    for (path, fields) in &forms {
        let mut form = fields.clone();
        form.push(("csrf", &other_csrf));
        let answer = other.guardian.post(path, &form).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
    }
    assert!(!claire.get(&settings).await.body.contains("Invitations en attente"), "no invitation was made");
    assert!(!policies(&server, &family).contains("forbid.health.pai"));
    assert_eq!(grant_state(&server, &family, &grant), "active");

    // Erasing: a wrong name changes nothing; the right one erases the family and ends every session.
    let delete = format!("{settings}/delete");
    let wrong = claire.post(&delete, &[("csrf", &csrf), ("name", "Durand")]).await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(wrong.body.contains("rien n&#39;a été supprimé"), "{}", wrong.body);
    assert_eq!(grant_state(&server, &family, &grant), "active");
    let erased = claire.post(&delete, &[("csrf", &csrf), ("name", " Martin ")]).await;
    assert_eq!(erased.location(), "/sign-in?done=erased", "{}", erased.body);
    assert!(claire.get("/sign-in?done=erased").await.body.contains("La famille a été supprimée"));
    for (who, visitor) in [("claire", &mut claire), ("karim", &mut karim), ("zoe", &mut teen), ("claire elsewhere", &mut again)] {
        assert_eq!(visitor.get(&format!("/family/{family}")).await.location(), "/sign-in", "{who}'s session ended");
    }
    let last = server.cli(&["ledger", "list", "--family", &family]);
    assert_eq!(last["entries"].as_array().unwrap().last().unwrap()["receipt"]["event"], "erasure", "{last}");
    let mut nobody = Visitor::new(&server);
    let page = nobody.get("/sign-in").await;
    assert_eq!(nobody.post("/sign-in", &[("csrf", &page.csrf()), ("login", "zoe"), ("password", NEW_PASSWORD)]).await.status, 401);
    // The other family is untouched.
    assert_eq!(other.guardian.get(&format!("/family/{}", other.family)).await.status, 200);
}

/// With `public_url` configured, the links the settings hand out start with it, whatever address the guardian used;
/// the link's path is the server's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_links_start_with_the_configured_public_url() {
    for backend in backends() {
        within(120, "links from the public address", async {
            let server = Server::start_with(backend, &[("CARTABLE_PUBLIC_URL", "https://cartable.example.org/")]).await;
            let WebFamily { family, guardian: mut claire, .. } = WebFamily::create(&server, "Martin", "claire").await;
            let zoe = add_child(&server, &family, "Zoé", 15);
            let settings = format!("/family/{family}/settings");
            let csrf = claire.get(&settings).await.csrf();
            for (form, fields) in [("invite-guardian", vec![("csrf", csrf.as_str())]), ("invite-child", vec![("csrf", csrf.as_str()), ("child", zoe.as_str())])] {
                let invited = claire.post(&format!("{settings}/{form}"), &fields).await;
                assert_eq!(invited.status, 200, "{}", invited.body);
                let link = shown_full_link(&invited);
                assert!(link.starts_with("https://cartable.example.org/invitation/") && !link.contains(&server.url), "{form}: {link}");
            }
            // The guardian's link, used on this server, lets the second guardian in.
            let invited = claire.post(&format!("{settings}/invite-guardian"), &[("csrf", &csrf)]).await;
            let mut karim = accept(&server, &shown_link(&invited), Some("Karim Martin"), "karim").await;
            assert!(karim.get(&format!("/family/{family}")).await.body.contains("Bonjour Karim Martin"));
        })
        .await;
    }
}

/// The demo's Zoé (15) signs in herself and co-approves the platform's request about her, after Claire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demos_teenager_co_approves_from_her_own_session() {
    let dir = tempfile::tempdir().unwrap();
    let (mut demo, url, said) = start_demo(&dir.path().join("data"));
    assert!(said.iter().any(|l| l.contains("zoe / cartable-demo")), "{said:?}");
    let mut zoe = Visitor::at(&url);
    let signed = sign_in(&mut zoe, "zoe", "cartable-demo").await;
    let family = signed.location();
    let home = zoe.get(&family).await;
    for words in ["Bonjour Zoé", "Mes données", "le carnet de suivi", "Lycée en ligne", "Proposer des exercices adaptés"] {
        assert!(home.body.contains(words), "`{words}` is not on Zoé's home: {}", home.body);
    }
    assert!(!home.body.contains("Léo") && !home.body.contains("Inès"), "{}", home.body);
    let at = home.body.find("/approve\"").expect("an approve button");
    let start = home.body[..at].rfind('"').unwrap() + 1;
    let approve = home.body[start..at + "/approve".len()].to_owned();
    let done = zoe.post(&approve, &[("csrf", &home.csrf())]).await;
    assert_eq!(done.location(), format!("{family}/requests?done=approved"), "{}", done.body);
    let mut claire = Visitor::at(&url);
    sign_in(&mut claire, "claire", "cartable-demo").await;
    let csrf = claire.get(&family).await.csrf();
    let done = claire.post(&approve, &[("csrf", &csrf)]).await;
    assert_eq!(done.location(), format!("{family}/requests?done=active"), "{}", done.body);
    let _ = demo.kill();
    let _ = demo.wait();
}

// --- in a browser ------------------------------------------------------------------------------------------------

mod browser {
    use thirtyfour::prelude::*;

    use super::api_support::{Server, within};
    use super::web_support::browser::{SIZES, fill, screenshots, shoot, wait_for};
    use super::web_support::{WEB_PASSWORD, WebFamily, grades_request, invitation_path};


    async fn click(driver: &WebDriver, id: &str) {
        driver.find(By::Id(id)).await.unwrap().click().await.unwrap();
    }

    async fn sign_in(driver: &WebDriver, url: &str, login: &str, password: &str) {
        driver.goto(format!("{url}/sign-in")).await.unwrap();
        wait_for(driver, &["Connectez-vous"]).await;
        fill(driver, "login", login).await;
        fill(driver, "password", password).await;
        driver.find(By::Css("main form button")).await.unwrap().click().await.unwrap();
    }

    async fn sign_out(driver: &WebDriver) {
        driver.find(By::Css("form.sign-out button")).await.unwrap().click().await.unwrap();
        wait_for(driver, &["Connectez-vous"]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_teenager_co_approves_from_her_own_session_in_a_browser() {
        let Some((server, _profile, driver)) = super::web_support::browser::start().await else { return };
        within(240, "the teenager's story", story(&server, &driver)).await;
        driver.quit().await.unwrap();
    }

    async fn story(server: &Server, driver: &WebDriver) {
        let url = server.url.clone();
        // The guardian is made over HTTP (the invitation in a browser is `web_browser.rs`'s).
        let WebFamily { family, .. } = WebFamily::create(server, "Martin", "claire").await;
        let zoe = super::add_child(server, &family, "Zoé", 15);
        super::add_child(server, &family, "Léo", 11);
        server.cli_in(&["record", "put", "--family", &family, "--child", &zoe, "--doctype", "edu.grades", "--body", "-"], Some(r#"{"subject": "Mathématiques", "grade": 15.5, "out_of": 20}"#));
        let client = server.client();
        let service = client.service(client.register_service("Lycée en ligne").await.unwrap());
        let pending = service.request_access(&grades_request(&family, &zoe, "Proposer des exercices adaptés", 180)).await.unwrap();
        let grant = pending.request_id.0.to_string();

        driver.goto(format!("{url}/lang/fr?next=/sign-in")).await.unwrap();
        sign_in(driver, &url, "claire", WEB_PASSWORD).await;
        wait_for(driver, &["Bonjour Claire Martin"]).await;
        // The settings page, from the menu.
        driver.find(By::LinkText("Réglages")).await.unwrap().click().await.unwrap();
        wait_for(driver, &["Réglages de la famille", "Zoé", "Ne jamais partager", "Supprimer la famille"]).await;
        shoot(driver, "settings-page").await;
        for (section, name) in [("prohibitions", "settings-prohibitions"), ("archive", "settings-archive"), ("delete", "settings-delete")] {
            for (size, width, height) in SIZES {
                driver.set_window_rect(0, 0, width, height).await.unwrap();
                driver.find(By::Id(section)).await.unwrap().scroll_into_view().await.unwrap();
                driver.screenshot(&screenshots().join(format!("{name}-{size}.png"))).await.unwrap();
            }
        }
        driver.set_window_rect(0, 0, 1280, 800).await.unwrap();
        click(driver, &format!("invite-{zoe}")).await;
        wait_for(driver, &["Lien d'invitation pour Zoé"]).await;
        shoot(driver, "settings-invitation-link").await;
        let link = driver.find(By::Id("invitation-link")).await.unwrap().text().await.unwrap();
        click(driver, "forbid-health.pai").await;
        wait_for(driver, &["L'interdiction est en place"]).await;
        sign_out(driver).await;

        // Zoé accepts her invitation and signs in.
        driver.goto(format!("{url}{}", invitation_path(&link))).await.unwrap();
        wait_for(driver, &["Vos parents vous invitent"]).await;
        shoot(driver, "teen-invitation").await;
        fill(driver, "login", "zoe").await;
        fill(driver, "password", WEB_PASSWORD).await;
        fill(driver, "password2", WEB_PASSWORD).await;
        driver.find(By::Css("main form button")).await.unwrap().click().await.unwrap();
        wait_for(driver, &["Votre compte est créé"]).await;
        sign_in(driver, &url, "zoe", WEB_PASSWORD).await;
        let home = wait_for(driver, &["Bonjour Zoé", "Mes données", "Lycée en ligne"]).await;
        assert!(!home.contains("Léo"), "{home}");
        shoot(driver, "teen-home").await;
        click(driver, &format!("approve-{grant}")).await;
        wait_for(driver, &["Votre accord est enregistré"]).await;
        shoot(driver, "teen-approved").await;
        assert_eq!(super::grant_state(server, &family, &grant), "requested", "a guardian's approval is still needed");
        driver.goto(format!("{url}/family/{family}/settings")).await.unwrap();
        wait_for(driver, &["Ce que vos parents ont interdit", "jamais partagé"]).await;
        shoot(driver, "teen-settings").await;
        sign_out(driver).await;

        // Claire's approval completes it.
        sign_in(driver, &url, "claire", WEB_PASSWORD).await;
        wait_for(driver, &["Bonjour Claire Martin"]).await;
        click(driver, &format!("approve-{grant}")).await;
        wait_for(driver, &["L'autorisation est maintenant active"]).await;
        assert_eq!(super::grant_state(server, &family, &grant), "active");
        driver.goto(format!("{url}/family/{family}/history?event=approve")).await.unwrap();
        wait_for(driver, &["Zoé", "a donné son accord"]).await;
        click(driver, "verify-ledger").await;
        wait_for(driver, &["Le registre est intact"]).await;
        shoot(driver, "settings-history-verified").await;
    }
}
