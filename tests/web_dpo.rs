//! The DPO's console as pages: over HTTP (always), and in a real headless Chromium (with `CARTABLE_TEST_WEBDRIVER`,
//! which `scripts/test.sh` sets): a DPO accepts their invitation, signs in with the families' sign-in form, filters
//! the register by service and period, downloads it as CSV, opens a receipt and downloads its proof (checked
//! offline), verifies every log, reads the record of processing. Screenshots go to `target/screenshots/`.

mod api_support;
mod cli_support;
mod web_support;

use std::time::Duration;

use api_support::{Backend, FamilyFixture, PASSWORD, Server, within};
use thirtyfour::prelude::*;
use web_support::browser::{fill, shoot, wait_for};
use web_support::{Visitor, invitation_path, sign_in};

/// Two families and two services: Tutorat Plus reads a grade in A, Lycée en ligne's request in B is denied.
async fn families_and_services(server: &Server) -> (FamilyFixture, FamilyFixture, cartable_sdk::ServiceId) {
    let client = server.client();
    let a = FamilyFixture::create(server, "Martin", 11, 1);
    let b = FamilyFixture::create(server, "Durand", 13, 1);
    let tutorat = client.service(client.register_service("Tutorat Plus").await.unwrap());
    let lycee = client.service(client.register_service("Lycée en ligne").await.unwrap());
    let pending = tutorat.request_access(&a.request(&["edu.grades"], &["read", "list"])).await.unwrap();
    client.sign_in(a.guardian, PASSWORD).await.unwrap().approve(pending.request_id).await.unwrap();
    tutorat.wait_for_approval(&pending, Duration::from_secs(20)).await.unwrap().read_record(a.grades[0]).await.unwrap();
    let pending = lycee.request_access(&b.request(&["edu.attendance"], &["read"])).await.unwrap();
    client.sign_in(b.guardian, PASSWORD).await.unwrap().deny(pending.request_id).await.unwrap();
    (a, b, tutorat.id())
}

/// The DPO's invitation link, from the console.
fn invite_dpo(server: &Server, name: &str) -> String {
    invitation_path(server.cli(&["dpo", "add", "--name", name, "--invite"])["invitation"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpo_uses_the_console_pages() {
    within(180, "the DPO's pages", async {
        let server = Server::start(Backend::Sqlite).await;
        let (a, _b, tutorat) = families_and_services(&server).await;

        // The invitation asks no name (the operator gave it), only a sign-in name and a password.
        let path = invite_dpo(&server, "Délégué de l'opérateur");
        let mut dpo = Visitor::new(&server);
        let page = dpo.get(&path).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("délégué à la protection des données") && !page.body.contains("id=\"name\""), "{}", page.body);
        let csrf = page.csrf();
        let done = dpo.post(&path, &[("csrf", &csrf), ("login", "dpo-cnil"), ("password", PASSWORD), ("password2", PASSWORD)]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        let signed = sign_in(&mut dpo, "dpo-cnil", PASSWORD).await;
        assert_eq!(signed.location(), "/dpo");
        assert_eq!(dpo.get("/").await.location(), "/dpo", "the site's root leads a DPO to the console");

        // The register: every family's entries; nothing of a child's data.
        let register = dpo.get("/dpo").await;
        assert_eq!(register.status, 200);
        for words in ["Registre des consentements", "Tutorat Plus", "Accès autorisé", "Demande", "Refus", "Lycée en ligne"] {
            assert!(register.body.contains(words), "the register shows {words}: {}", register.body);
        }
        assert!(!register.body.contains("Léa") && !register.body.contains("secret-comment"), "a DPO sees no names, no contents");
        // Filtered by a service and today: only that service's entries.
        let today = time::OffsetDateTime::now_utc().date().to_string();
        let filtered = dpo.get(&format!("/dpo?service={tutorat}&since={today}&until={today}")).await;
        assert_eq!(filtered.status, 200);
        assert!(filtered.body.contains("Tutorat Plus") && !filtered.body.contains("Lycée en ligne"), "{}", filtered.body);
        let link_at = filtered.body.find("id=\"export-csv\" href=\"").expect("an export link") + "id=\"export-csv\" href=\"".len();
        let link = &filtered.body[link_at..link_at + filtered.body[link_at..].find('"').unwrap()];
        for kept in [format!("service={tutorat}"), format!("since={today}"), format!("until={today}")] {
            assert!(link.contains(&kept), "the export link keeps the filters: {link}");
        }
        let bad = dpo.get("/dpo?service=not-an-id").await;
        assert_eq!(bad.status, 400);
        assert!(bad.body.contains("Un filtre n&#39;est pas valable"), "{}", bad.body);

        // The export, under the same filters: CSV with a line per entry of the service.
        let csv = dpo.get(&format!("/dpo/export/csv?service={tutorat}")).await;
        assert_eq!(csv.status, 200);
        assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
        let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(csv.body.as_bytes()).records().map(Result::unwrap).collect();
        assert!(rows.len() >= 3, "request, approval, the read: {}", csv.body);
        assert!(rows.iter().all(|r| &r[8] == tutorat.to_string().as_str()), "{}", csv.body);

        // A receipt and its proof, checked offline.
        let href_at = register.body.find("href=\"/dpo/entries/").expect("a receipt link") + "href=\"".len();
        let href = &register.body[href_at..href_at + register.body[href_at..].find('"').unwrap()];
        let receipt = dpo.get(href).await;
        assert_eq!(receipt.status, 200);
        assert!(receipt.body.contains("Reçu de consentement") && receipt.body.contains("Preuve d&#39;inclusion"), "{}", receipt.body);
        let proof = dpo.get(&format!("{href}/proof")).await;
        assert_eq!(proof.status, 200);
        assert!(proof.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
        let file = server.dir.path().join("entry.tlog-proof");
        std::fs::write(&file, &proof.body).unwrap();
        let key = server.cli(&["ledger", "key"])["verifier_key"].as_str().unwrap().to_owned();
        server.cli(&["ledger", "check-proof", file.to_str().unwrap(), "--key", &key]);
        assert_eq!(dpo.get(&format!("/dpo/entries/{}/999999", a.family)).await.status, 404, "an entry that does not exist");

        // The logs: seen once, then consistent; verifying needs the form's token.
        let logs = dpo.get("/dpo/logs").await;
        assert!(logs.body.contains("Vu pour la première fois"), "{}", logs.body);
        let logs = dpo.get("/dpo/logs").await;
        assert!(logs.body.contains("Cohérent avec ce que vous avez vu"), "{}", logs.body);
        assert_eq!(dpo.post("/dpo/logs/verify", &[("csrf", "forged")]).await.status, 403);
        let verified = dpo.post("/dpo/logs/verify", &[("csrf", &logs.csrf())]).await;
        assert_eq!(verified.status, 200);
        assert!(verified.body.contains("2 journaux vérifiés, 0 en échec") && verified.body.contains("Vérifié en entier"), "{}", verified.body);

        // The record of processing, as a page and as CSV.
        let processing = dpo.get("/dpo/processing").await;
        for words in ["Registre des traitements", "Tutorat Plus", "suivi scolaire", "consentement", "actives : 1", "moins de 15 ans : 1"] {
            assert!(processing.body.contains(words), "{words}: {}", processing.body);
        }
        let processing_csv = dpo.get("/dpo/processing.csv").await;
        assert_eq!(csv::Reader::from_reader(processing_csv.body.as_bytes()).records().count(), 2);

        // English, one click away.
        dpo.language = None;
        dpo.cookies.insert("cartable_lang".into(), "en".into());
        assert!(dpo.get("/dpo").await.body.contains("Consent register"));
        dpo.cookies.remove("cartable_lang");

        // A DPO has no family pages, and a guardian no console.
        assert_eq!(dpo.get(&format!("/family/{}", a.family)).await.location(), "/sign-in");
        let mut guardian = Visitor::new(&server);
        assert_eq!(guardian.get("/dpo").await.location(), "/sign-in");

        // Each family's log says a DPO read its register; the family's history shows it.
        let entries = server.cli(&["ledger", "list", "--family", &a.family.to_string()])["entries"].as_array().unwrap().clone();
        assert!(entries.iter().any(|e| e["receipt"]["actor"]["kind"] == "dpo"));

        // Signing out ends the session.
        let csrf = dpo.get("/dpo").await.csrf();
        let out = dpo.post("/dpo/sign-out", &[("csrf", &csrf)]).await;
        assert_eq!(out.location(), "/sign-in?done=signed-out");
        assert_eq!(dpo.get("/dpo").await.location(), "/sign-in");
    })
    .await;
}


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpo_uses_the_console_in_a_browser() {
    let Some((server, _profile, driver)) = web_support::browser::start().await else { return };
    let result = within(240, "the DPO in a browser", browser_story(&server, &driver)).await;
    driver.quit().await.unwrap();
    result
}

async fn browser_story(server: &Server, driver: &WebDriver) {
    let url = |path: &str| format!("{}{path}", server.url);
    let (_a, _b, tutorat) = families_and_services(server).await;
    let path = invite_dpo(server, "Délégué de l'opérateur");

    driver.goto(url("/lang/fr?next=/sign-in")).await.unwrap();
    driver.goto(url(&path)).await.unwrap();
    wait_for(driver, &["délégué à la protection des données"]).await;
    shoot(driver, "dpo-invitation").await;
    fill(driver, "login", "dpo-cnil").await;
    fill(driver, "password", PASSWORD).await;
    fill(driver, "password2", PASSWORD).await;
    driver.find(By::Css("main form button")).await.unwrap().click().await.unwrap();
    wait_for(driver, &["Votre compte est créé"]).await;
    fill(driver, "login", "dpo-cnil").await;
    fill(driver, "password", PASSWORD).await;
    driver.find(By::Css("main form button")).await.unwrap().click().await.unwrap();
    wait_for(driver, &["Registre des consentements", "Lycée en ligne"]).await;
    shoot(driver, "dpo-register").await;

    // Filter by the service and today's date, as a DPO types them.
    fill(driver, "service", &tutorat.to_string()).await;
    let today = time::OffsetDateTime::now_utc().date();
    // A date field's keys follow the browser's own locale (which headless Chromium does not take from its flags):
    // the day is set as the date picker sets it.
    for id in ["since", "until"] {
        let field = driver.find(By::Id(id)).await.unwrap();
        driver.execute("arguments[0].value = arguments[1];", vec![field.to_json().unwrap(), serde_json::json!(today.to_string())]).await.unwrap();
    }
    driver.find(By::Id("apply-filters")).await.unwrap().click().await.unwrap();
    for _ in 0..100 {
        if driver.current_url().await.unwrap().as_str().contains("service=") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let current = driver.current_url().await.unwrap();
    assert!(current.as_str().contains(&format!("since={today}")), "the period is in the query: {current}");
    let text = wait_for(driver, &["Tutorat Plus"]).await;
    assert!(!text.contains("Lycée en ligne"), "the filter keeps only the service: {text}");
    shoot(driver, "dpo-register-filtered").await;

    // The CSV link, fetched with the browser's session: the filtered register, one line per entry.
    let href = driver.find(By::Id("export-csv")).await.unwrap().attr("href").await.unwrap().expect("an export link");
    let cookies = driver.get_all_cookies().await.unwrap();
    let cookie = cookies.iter().map(|c| format!("{}={}", c.name, c.value)).collect::<Vec<_>>().join("; ");
    let link = if href.starts_with("http") { href.clone() } else { url(&href) };
    let body = reqwest::Client::new().get(&link).header("cookie", cookie).send().await.unwrap().text().await.unwrap();
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(body.as_bytes()).records().map(Result::unwrap).collect();
    assert!(!rows.is_empty() && rows.iter().all(|r| &r[8] == tutorat.to_string().as_str()), "{body}");

    // A receipt, with its proof.
    driver.find(By::Css("ol.register li a")).await.unwrap().click().await.unwrap();
    wait_for(driver, &["Reçu de consentement", "Preuve d'inclusion"]).await;
    driver.find(By::Css("details summary")).await.unwrap().click().await.unwrap();
    let proof = driver.find(By::Id("proof")).await.unwrap().text().await.unwrap();
    assert!(proof.contains("c2sp.org/tlog-proof"), "{proof}");
    shoot(driver, "dpo-receipt").await;

    // Every log verified.
    driver.find(By::Css("nav a[href='/dpo/logs']")).await.unwrap().click().await.unwrap();
    wait_for(driver, &["Journaux des familles"]).await;
    driver.find(By::Id("verify-all")).await.unwrap().click().await.unwrap();
    wait_for(driver, &["2 journaux vérifiés, 0 en échec"]).await;
    shoot(driver, "dpo-logs").await;

    driver.find(By::Css("nav a[href='/dpo/processing']")).await.unwrap().click().await.unwrap();
    wait_for(driver, &["Registre des traitements", "Tutorat Plus"]).await;
    shoot(driver, "dpo-processing").await;
}
