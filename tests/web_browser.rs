//! The web UI in a real headless Chromium, driven through WebDriver (Debian's `chromedriver`, started by
//! `scripts/test.sh`, which exports its address as `CARTABLE_TEST_WEBDRIVER`), against the real server: a guardian
//! accepts the invitation, signs in, approves a service's request (whose SDK read then shows in the history),
//! revokes it (the service's next read is refused), switches to English; another family's guardian finds nothing.
//! Screenshots of each page at phone and desktop sizes go to `target/screenshots/`.

mod api_support;
mod cli_support;
mod web_support;

use std::time::Duration;

use api_support::{Server, within};
use cartable_sdk::SdkError;
use thirtyfour::prelude::*;
use web_support::browser::{fill, shoot, wait_for};
use web_support::{WEB_PASSWORD, WebFamily, grades_request, invitation_path};


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

    // A service asks; the guardian approves on the requests page.
    let client = server.client();
    let service = client.service(client.register_described_service("Tutorat Plus", "Soutien scolaire en ligne, du CP à la terminale").await.unwrap());
    let request = grades_request(&family, &child, "Adapter les séances de soutien", 90);
    let pending = service.request_access(&request).await.unwrap();
    let grant = pending.request_id.0.to_string();
    driver.goto(url(&format!("/family/{family}"))).await.unwrap();
    shoot(driver, "home").await;
    driver.goto(url(&format!("/family/{family}/requests"))).await.unwrap();
    shoot(driver, "requests").await;
    wait_for(driver, &["Ce que le service dit de lui", "Soutien scolaire en ligne, du CP à la terminale"]).await;
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
    shoot(driver, "grants").await;
    wait_for(driver, &["Soutien scolaire en ligne, du CP à la terminale"]).await;
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
