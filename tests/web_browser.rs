//! The web UI in a real headless Chromium, driven through WebDriver (Debian's `chromedriver`, started by
//! `scripts/test.sh`, which exports its address as `CARTABLE_TEST_WEBDRIVER`), against the real server: a guardian
//! accepts the invitation, signs in, searches from the header's box (the words found marked), approves a service's
//! request (whose SDK read then shows in the history), revokes it (the service's next read is refused), switches to
//! English; another family's guardian finds nothing.
//! And the demo family: every page linked from a guardian's home and from each child's page opens, and the search
//! page without a query, with one and with a malformed one.
//! Screenshots of each page at phone and desktop sizes go to `target/screenshots/`.

mod api_support;
mod cli_support;
mod web_support;

use std::time::Duration;

use api_support::{Server, within};
use cartable_sdk::SdkError;
use thirtyfour::prelude::*;
use web_support::browser::{fill, shoot, wait_for};
use web_support::{Visitor, WEB_PASSWORD, WebFamily, grades_request, invitation_path, sign_in, start_demo};


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_uses_the_web_ui_in_a_browser() {
    let Some((server, _profile, driver)) = web_support::browser::start().await else { return };
    let result = within(240, "the browser story", story(&server, &driver)).await;
    driver.quit().await.unwrap();
    result
}

async fn story(server: &Server, driver: &WebDriver) {
    let url = |path: &str| format!("{}{path}", server.url);
    let created = server.cli(&["family", "create", "--name", "Martin", "--invite"]);
    let family = created["family_id"].as_str().unwrap().to_owned();
    let birth = api_support::born_years_ago(11);
    let child = server.cli(&["member", "add", "--family", &family, "--role", "child", "--name", "Léo", "--birth-date", &birth]);
    let child = child["member_id"].as_str().unwrap().to_owned();
    for grade in [15.5, 12.0, 17.0] {
        let body = format!(r#"{{"subject": "Mathématiques", "grade": {grade}, "out_of": 20}}"#);
        server.cli_in(&["record", "put", "--family", &family, "--child", &child, "--doctype", "edu.grades", "--body", "-"], Some(&body));
    }

    // The browser asks for English first; French is chosen once (and remembered, by a cookie).
    driver.goto(url("/lang/fr?next=/sign-in")).await.unwrap();
    wait_for(driver, &["Connectez-vous"]).await;

    // The invitation: the guardian chooses a name, a sign-in name and a password, then signs in.
    driver.goto(url(&invitation_path(created["invitation"].as_str().unwrap()))).await.unwrap();
    shoot(driver, "invitation").await;
    fill(driver, "name", "Claire Martin").await;
    fill(driver, "login", "claire").await;
    fill(driver, "password", WEB_PASSWORD).await;
    fill(driver, "password2", WEB_PASSWORD).await;
    driver.find(By::Css("main form button")).await.unwrap().click().await.unwrap();
    wait_for(driver, &["Votre compte est créé"]).await;
    shoot(driver, "sign-in").await;
    fill(driver, "login", "claire").await;
    fill(driver, "password", WEB_PASSWORD).await;
    driver.find(By::Css("main form button")).await.unwrap().click().await.unwrap();
    wait_for(driver, &["Bonjour Claire Martin", "Léo", "les notes"]).await;

    // The header's search box, from home: an accent-free query finds the grades, the words marked.
    fill(driver, "site-search", "mathematiques").await;
    driver.find(By::Css("form.site-search button")).await.unwrap().click().await.unwrap();
    wait_for(driver, &["3 résultats", "Léo · Notes"]).await;
    let marked = driver.find_all(By::Css("ol.results mark")).await.unwrap();
    assert_eq!(marked.len(), 3, "each result marks the word found");
    assert_eq!(marked[0].text().await.unwrap(), "Mathématiques");
    shoot(driver, "search").await;

    // A service asks; the guardian approves on the requests page.
    let client = server.client();
    let service = client.service(client.register_described_service("Tutorat Plus", "Soutien scolaire en ligne, du CP à la terminale").await.unwrap());
    let request = grades_request(&family, &child, "Adapter les séances de soutien", 90);
    let pending = service.request_access(&request).await.unwrap();
    let grant = pending.request_id.0.to_string();
    driver.goto(url(&format!("/family/{family}"))).await.unwrap();
    shoot(driver, "home").await;
    driver.goto(url(&format!("/family/{family}/requests"))).await.unwrap();
    wait_for(driver, &["Ce que le service dit de lui", "Soutien scolaire en ligne, du CP à la terminale"]).await;
    shoot(driver, "requests").await;
    driver.find(By::Id(format!("approve-{grant}"))).await.unwrap().click().await.unwrap();
    wait_for(driver, &["L'autorisation est maintenant active"]).await;

    // The service reads through the SDK; the history shows it.
    let access = service.wait_for_approval(&pending, Duration::from_secs(20)).await.unwrap();
    let listed = access.list_records("edu.grades", None, 10).await.unwrap();
    access.read_record(listed.records[0].record_id).await.unwrap();
    driver.goto(url(&format!("/family/{family}/history"))).await.unwrap();
    wait_for(driver, &["Tutorat Plus a consulté (lire) les notes de Léo"]).await;
    shoot(driver, "history").await;

    // Revoking on the grants page: the service's next read is refused.
    driver.goto(url(&format!("/family/{family}/grants"))).await.unwrap();
    wait_for(driver, &["Soutien scolaire en ligne, du CP à la terminale"]).await;
    shoot(driver, "grants").await;
    driver.find(By::Id(format!("revoke-{grant}"))).await.unwrap().click().await.unwrap();
    wait_for(driver, &["L'autorisation est retirée"]).await;
    assert!(matches!(access.read_record(listed.records[0].record_id).await, Err(SdkError::Revoked { .. })));

    // English, one click away, and remembered.
    driver.find(By::Css("a.lang")).await.unwrap().click().await.unwrap();
    wait_for(driver, &["Ended permissions"]).await;
    driver.goto(url(&format!("/family/{family}"))).await.unwrap();
    wait_for(driver, &["Hello Claire Martin"]).await;
    shoot(driver, "home-en").await;
    driver.find(By::Css("a.lang")).await.unwrap().click().await.unwrap();
    wait_for(driver, &["Bonjour Claire Martin"]).await;

    // Another family's guardian: the first family's pages do not exist for them.
    let other = WebFamily::create(server, "Durand", "paul").await;
    driver.find(By::Css("form.sign-out button")).await.unwrap().click().await.unwrap();
    wait_for(driver, &["Vous êtes déconnecté"]).await;
    fill(driver, "login", &other.login).await;
    fill(driver, "password", WEB_PASSWORD).await;
    driver.find(By::Css("main form button")).await.unwrap().click().await.unwrap();
    wait_for(driver, &["Bonjour Claire Martin"]).await;
    assert!(driver.current_url().await.unwrap().as_str().ends_with(&format!("/family/{}", other.family)), "the other family's guardian is signed in");
    for page in ["", "/requests", "/grants", "/history"] {
        driver.goto(url(&format!("/family/{family}{page}"))).await.unwrap();
        let text = wait_for(driver, &["Cette page n'existe pas"]).await;
        assert!(!text.contains("Léo") && !text.contains("Tutorat"), "{page}: {text}");
    }
    shoot(driver, "not-found").await;
}

/// `cartable demo`, and a guardian opening every page linked from her home and from each child's page (each
/// collection, each consent history, requests, grants, history, settings) and the search page (empty, with results,
/// with a malformed query): each answers 200 over HTTP and is no error
/// page in the browser, and each is screenshot, checked by axe-core and by the console.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_of_the_demo_opens_in_a_browser() {
    let Some((_profile, driver)) = web_support::browser::browser().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (mut demo, url, _) = start_demo(&dir.path().join("data"));
    let result = within(480, "the demo's pages", every_demo_page(&url, &driver)).await;
    driver.quit().await.unwrap();
    let _ = demo.kill();
    let _ = demo.wait();
    result
}

/// The local links of the page the browser shows under `selector`, in order, without the language switch.
async fn links(driver: &WebDriver, selector: &str) -> Vec<String> {
    let mut out = Vec::new();
    for link in driver.find_all(By::Css(selector)).await.unwrap() {
        if let Some(href) = link.attr("href").await.unwrap()
            && href.starts_with("/family/")
            && !out.contains(&href)
        {
            out.push(href);
        }
    }
    out
}

/// A screenshot's name for a page of the demo: its path without the family's id, a child's id as their name.
fn shot_name(path: &str, family: &str, children: &[(String, String)]) -> String {
    let mut name = path.trim_start_matches(family).to_owned();
    for (id, child) in children {
        name = name.replace(&format!("/children/{id}"), &format!("/{child}"));
    }
    let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    format!("demo{}", name.trim_end_matches('-')).replace("--", "-")
}

async fn every_demo_page(url: &str, driver: &WebDriver) {
    // Over HTTP, the same guardian, for each page's status.
    let mut claire = Visitor::at(url);
    let family = sign_in(&mut claire, "claire", "cartable-demo").await.location();
    driver.goto(format!("{url}/lang/fr?next=/sign-in")).await.unwrap();
    fill(driver, "login", "claire").await;
    fill(driver, "password", "cartable-demo").await;
    driver.find(By::Css("main form button")).await.unwrap().click().await.unwrap();
    wait_for(driver, &["Bonjour Claire Martin", "Léo", "Zoé", "Inès"]).await;

    // Home's links (the menu's, each child's page and consent history, the history), then each child's page's.
    let mut pages = links(driver, "a[href]").await;
    let child_pages: Vec<String> = links(driver, "a.child-page").await;
    assert_eq!(child_pages.len(), 3, "a page for each of the three children: {pages:?}");
    let mut children = Vec::new();
    for child in &child_pages {
        driver.goto(format!("{url}{child}")).await.unwrap();
        // The heading is the child's name and age.
        let heading = driver.find(By::Tag("h1")).await.unwrap().text().await.unwrap();
        let name = heading.split_whitespace().next().unwrap_or_default().to_owned();
        let id = child.rsplit('/').next().unwrap().to_owned();
        let ascii: String = name.to_lowercase().replace(['é', 'è'], "e");
        children.push((id, ascii));
        let tiles = links(driver, "main a[href]").await;
        assert!(tiles.iter().filter(|t| t.starts_with(&format!("{child}/edu."))).count() >= 5, "{name}'s page links to their collections: {tiles:?}");
        for tile in tiles {
            if !pages.contains(&tile) {
                pages.push(tile);
            }
        }
    }
    for wanted in ["/requests", "/grants", "/history", "/settings"] {
        assert!(pages.contains(&format!("{family}{wanted}")), "home links to {wanted}: {pages:?}");
    }
    assert!(pages.iter().filter(|p| p.ends_with("/report")).count() == 3, "each child's consent history: {pages:?}");

    // The search: its page without a query (how to search), and with one (results, counts, marks).
    for query in ["", "?q=mathematiques", "?q=%22unclosed"] {
        pages.push(format!("{family}/search{query}"));
    }

    let error_title = "Un problème est survenu";
    for path in &pages {
        let answer = claire.get(path).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        assert!(!answer.body.contains(error_title), "{path} is an error page: {}", answer.body);
        driver.goto(format!("{url}{path}")).await.unwrap();
        let heading = driver.find(By::Tag("h1")).await.unwrap().text().await.unwrap();
        assert!(!heading.is_empty() && heading != error_title, "{path} shows an error in the browser: {heading}");
        shoot(driver, &shot_name(path, &family, &children)).await;
    }
    assert!(pages.len() >= 25, "the demo's pages: {pages:?}");
}
