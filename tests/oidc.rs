//! Signing in with an identity provider, against a real OpenID provider on 127.0.0.1 (the npm package
//! `oidc-provider`, an OpenID-certified implementation, run by `tests/oidc/provider.mjs`; installed by
//! `scripts/test.sh`), with a client for Cartable:
//! - a guardian links her account while signed in with her password, signs out, signs in through the provider,
//!   then turns her password sign-in off (the password is then refused, the provider still lets her in);
//! - refused, each with a page that says why and no session: an unknown identity, a forged `state`, a replayed
//!   answer, a code replayed under a new sign-in, a wrong `nonce`, an expired ID token (a second provider whose
//!   clock is two hours behind), a `state` that comes back to another browser;
//! - and the same story in Chromium (the provider's login form filled in the browser), with an expired ID token
//!   refused there too; screenshots of the sign-in, account, notification and refusal pages.

mod api_support;
mod cli_support;
mod web_support;

use std::process::{Child, Command, Stdio};

use api_support::{Backend, Server, backends, free_port, within};
use web_support::{Answer, Visitor, WEB_PASSWORD, WebFamily, sign_in};

const CLIENT_SECRET: &str = "le-secret-du-client-de-test-assez-long";

/// A provider process; killed on drop.
struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn node_modules() -> Option<String> {
    let found = std::env::var("CARTABLE_TEST_OIDC_NODE_MODULES").ok().filter(|p| !p.is_empty());
    if found.is_none() {
        eprintln!("OpenID test skipped: CARTABLE_TEST_OIDC_NODE_MODULES is not set (scripts/test.sh installs oidc-provider and sets it)");
    }
    found
}

/// Starts a provider whose one client is Cartable at `cartable` (its callback for provider `id`), with its clock
/// `offset` seconds off.
fn start_provider(modules: &str, id: &str, cartable: &str, offset: i64) -> Provider {
    use std::io::BufRead as _;
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let clients = serde_json::json!([{
        "client_id": "cartable",
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [format!("{cartable}/sign-in/oidc/{id}/callback")],
    }]);
    let node = std::env::var("CARTABLE_TEST_NODE").unwrap_or_else(|_| "node".to_owned());
    let mut child = Command::new(node)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc/provider.mjs"))
        .env("OIDC_NODE_MODULES", modules)
        .env("OIDC_PORT", port.to_string())
        .env("OIDC_ISSUER", &issuer)
        .env("OIDC_CLIENTS", clients.to_string())
        .env("OIDC_CLOCK_OFFSET_SECONDS", offset.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the OpenID provider");
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    // What it prints later (notices) is read and dropped: a closed pipe would end the process.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    assert_eq!(line.trim(), format!("ready {issuer}"), "the OpenID provider did not start");
    Provider { child, issuer }
}

/// Cartable with two providers: `academie` (a sound one) and `retard` (its clock two hours behind).
struct Setup {
    server: Server,
    academie: Provider,
    _retard: Provider,
    _config: tempfile::TempDir,
}

async fn setup(backend: Backend, modules: &str) -> Setup {
    let port = free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let academie = start_provider(modules, "academie", &public_url, 0);
    let retard = start_provider(modules, "retard", &public_url, -7200);
    let config = tempfile::tempdir().unwrap();
    let file = config.path().join("cartable.toml");
    let provider = |id: &str, name: &str, issuer: &str| {
        format!("[[oidc]]\nid = \"{id}\"\nname = \"{name}\"\nissuer = \"{issuer}\"\nclient_id = \"cartable\"\nclient_secret = \"{CLIENT_SECRET}\"\nscopes = [\"email\"]\n\n")
    };
    let text = format!("{}{}", provider("academie", "Académie", &academie.issuer), provider("retard", "ENT en retard", &retard.issuer));
    std::fs::write(&file, text).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let file = file.display().to_string();
    let server = Server::start_with(backend, &[("CARTABLE_LISTEN", &listen), ("CARTABLE_PUBLIC_URL", &public_url), ("CARTABLE_CONFIG", &file)]).await;
    assert_eq!(server.url, public_url);
    Setup { server, academie, _retard: retard, _config: config }
}

/// The part of an absolute URL after its origin.
fn path_of(url: &str, origin: &str) -> String {
    url.strip_prefix(origin).unwrap_or_else(|| panic!("{url} is not at {origin}")).to_owned()
}

/// Logs in at the provider as `login`, from its authorization URL to the answer it sends back to Cartable (the
/// callback's path and query).
async fn at_provider(provider: &str, authorize: &str, login: &str, cartable: &str) -> String {
    let mut idp = Visitor::at(provider);
    let mut answer = idp.get(&path_of(authorize, provider)).await;
    for _ in 0..10 {
        let location = answer.location();
        if location.starts_with(cartable) {
            return path_of(&location, cartable);
        }
        if answer.status == 200 {
            // The provider's login form (its development interactions): any name, any password.
            let action = form_action(&answer);
            let action = if action.starts_with("http") { path_of(&action, provider) } else { action };
            answer = idp.post(&action, &[("prompt", "login"), ("login", login), ("password", "peu importe")]).await;
            continue;
        }
        assert!((300..400).contains(&answer.status), "the provider answered {}: {}", answer.status, answer.body);
        let next = if location.starts_with("http") { path_of(&location, provider) } else { location };
        answer = idp.get(&next).await;
    }
    panic!("the provider never answered Cartable: {}", answer.body);
}

fn form_action(answer: &Answer) -> String {
    let at = answer.body.find("action=\"").unwrap_or_else(|| panic!("no form at the provider: {}", answer.body));
    let rest = &answer.body[at + "action=\"".len()..];
    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
}

/// Starts a sign-in at Cartable (`start`: a GET, or a linking form's POST), and returns the provider's
/// authorization URL it sends the browser to.
async fn authorization(answer: Answer) -> String {
    assert!(answer.headers.get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("cartable_oidc=")), "no browser cookie");
    if answer.status == 303 {
        return answer.location();
    }
    // Linking answers a form: a page that moves on to the provider (a redirect would be held to form-action).
    assert_eq!(answer.status, 200, "{}", answer.body);
    let at = answer.body.find("id=\"oidc-next\" href=\"").unwrap_or_else(|| panic!("no link to the provider: {}", answer.body));
    let rest = &answer.body[at + "id=\"oidc-next\" href=\"".len()..];
    assert!(answer.body.contains("http-equiv=\"refresh\""), "{}", answer.body);
    rest[..rest.find('"').unwrap()].replace("&#38;", "&").replace("&amp;", "&")
}

/// A fresh visitor's sign-in through `provider` as `login`: the callback's answer.
async fn provider_sign_in(s: &Setup, visitor: &mut Visitor, login: &str) -> Answer {
    let authorize = authorization(visitor.get("/sign-in/oidc/academie").await).await;
    let callback = at_provider(&s.academie.issuer, &authorize, login, &s.server.url).await;
    visitor.get(&callback).await
}

/// Refused: the page says `words`, no session was opened, and the family's pages still ask to sign in.
async fn assert_refused(visitor: &mut Visitor, answer: &Answer, status: u16, words: &str, family: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert!(answer.body.contains("Connexion refusée") && answer.body.contains(words), "`{words}` is not on the page: {}", answer.body);
    assert!(!answer.headers.get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("cartable_session=")), "a session was opened");
    assert_eq!(visitor.get(&format!("/family/{family}")).await.location(), "/sign-in", "the visitor is not signed in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_links_a_provider_and_forgeries_are_refused() {
    let Some(modules) = node_modules() else { return };
    for backend in backends() {
        let s = setup(backend, &modules).await;
        within(180, "the OpenID story", story(&s)).await;
    }
}

async fn story(s: &Setup) {
    let server = &s.server;
    let WebFamily { family, guardian: mut claire, .. } = WebFamily::create(server, "Martin", "claire").await;
    // The sign-in page offers both providers.
    let mut visitor = Visitor::new(server);
    let page = visitor.get("/sign-in").await;
    assert!(page.body.contains("Se connecter avec Académie") && page.body.contains("href=\"/sign-in/oidc/academie\""), "{}", page.body);

    // Nobody linked `claire.academie` yet: an unknown identity gets a page, not an account.
    let answer = provider_sign_in(s, &mut visitor, "claire.academie").await;
    assert_refused(&mut visitor, &answer, 403, "n&#39;est liée à aucun compte Cartable", &family).await;
    assert!(answer.body.contains("Aucun compte n&#39;a été créé"), "{}", answer.body);

    // Claire links it from her account page (signed in with her password).
    let account = claire.get(&format!("/family/{family}/account")).await;
    assert!(account.body.contains("id=\"link-academie\""), "{}", account.body);
    let started = claire.post(&format!("/family/{family}/account/identities/academie"), &[("csrf", &account.csrf())]).await;
    let authorize = authorization(started).await;
    let callback = at_provider(&s.academie.issuer, &authorize, "claire.academie", &server.url).await;
    let linked = claire.get(&callback).await;
    assert_eq!(linked.status, 200, "{}", linked.body);
    assert!(linked.body.contains("Identité liée") && linked.body.contains(&format!("url=/family/{family}/account?done=linked")), "{}", linked.body);
    let account = claire.get(&format!("/family/{family}/account?done=linked")).await;
    assert!(account.body.contains("id=\"identity-academie-linked\"") && account.body.contains("id=\"link-retard\""), "{}", account.body);
    // The identity is kept as a digest only.
    {
        use sqlx::Row as _;
        let rows = sqlx::query("SELECT identity_hash, provider FROM member_identities").fetch_all(&server.database().await).await.unwrap();
        assert_eq!(rows.len(), 1);
        let (hash, provider): (String, String) = (rows[0].get(0), rows[0].get(1));
        assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && provider == "academie", "{hash} {provider}");
    }

    // Signed out, Claire signs in through the provider: a page of this site moves her on to her home.
    let csrf = claire.get(&format!("/family/{family}")).await.csrf();
    assert_eq!(claire.post("/sign-out", &[("csrf", &csrf)]).await.status, 303);
    let mut fresh = Visitor::new(server);
    let authorize = authorization(fresh.get("/sign-in/oidc/academie").await).await;
    let callback = at_provider(&s.academie.issuer, &authorize, "claire.academie", &server.url).await;
    let signed = fresh.get(&callback).await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    assert!(signed.body.contains(&format!("url=/family/{family}\"")), "{}", signed.body);
    let home = fresh.get(&format!("/family/{family}")).await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("Bonjour Claire Martin"), "{}", home.body);

    // The same answer again: the sign-in it belonged to is over.
    let mut replay = Visitor::new(server);
    replay.cookies = fresh.cookies.clone();
    replay.cookies.remove("cartable_session");
    let again = replay.get(&callback).await;
    assert_refused(&mut replay, &again, 400, "déjà servi, a expiré", &family).await;
    // Its code under a sign-in of its own: the provider refuses a code used once.
    let code = callback[callback.find("code=").unwrap() + 5..].split('&').next().unwrap().to_owned();
    let mut thief = Visitor::new(server);
    let authorize = authorization(thief.get("/sign-in/oidc/academie").await).await;
    let state = authorize[authorize.find("state=").unwrap() + 6..].split('&').next().unwrap().to_owned();
    let stolen = thief.get(&format!("/sign-in/oidc/academie/callback?code={code}&state={state}")).await;
    assert_refused(&mut thief, &stolen, 400, "a refusé cette réponse", &family).await;

    // A forged state, and a real one that comes back to another browser.
    let mut forger = Visitor::new(server);
    let forged = forger.get("/sign-in/oidc/academie/callback?code=abc&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    assert_refused(&mut forger, &forged, 400, "pas (ou plus) en cours dans ce navigateur", &family).await;
    let mut victim = Visitor::new(server);
    let authorize = authorization(victim.get("/sign-in/oidc/academie").await).await;
    let callback = at_provider(&s.academie.issuer, &authorize, "claire.academie", &server.url).await;
    let mut elsewhere = Visitor::new(server);
    let answer = elsewhere.get(&callback).await;
    assert_refused(&mut elsewhere, &answer, 400, "pas (ou plus) en cours dans ce navigateur", &family).await;

    // A nonce changed on the way to the provider: its ID token is not for this sign-in.
    let mut visitor = Visitor::new(server);
    let authorize = authorization(visitor.get("/sign-in/oidc/academie").await).await;
    let nonce = authorize[authorize.find("nonce=").unwrap() + 6..].split('&').next().unwrap().to_owned();
    let tampered = authorize.replace(&format!("nonce={nonce}"), "nonce=un-autre-nonce-choisi-par-quelqu-un");
    let callback = at_provider(&s.academie.issuer, &tampered, "claire.academie", &server.url).await;
    let answer = visitor.get(&callback).await;
    assert_refused(&mut visitor, &answer, 400, "ne correspond pas à cette connexion", &family).await;

    // A provider whose clock is two hours behind: its ID tokens have expired when they arrive.
    let mut visitor = Visitor::new(server);
    let authorize = authorization(visitor.get("/sign-in/oidc/retard").await).await;
    let issuer = authorize.split('/').take(3).collect::<Vec<_>>().join("/");
    let callback = at_provider(&issuer, &authorize, "claire.academie", &server.url).await;
    let answer = visitor.get(&callback).await;
    assert_refused(&mut visitor, &answer, 400, "déjà périmée", &family).await;

    // An unknown provider.
    let answer = visitor.get("/sign-in/oidc/nulle-part").await;
    assert_eq!(answer.status, 404, "{}", answer.body);

    // Claire turns her password sign-in off: her password is then refused (with why), the provider lets her in.
    let account = fresh.get(&format!("/family/{family}/account")).await;
    let member = {
        let at = account.body.find("/members/").unwrap() + "/members/".len();
        account.body[at..at + account.body[at..].find('/').unwrap()].to_owned()
    };
    let off = fresh.post(&format!("/family/{family}/members/{member}/password-sign-in"), &[("csrf", &account.csrf()), ("on", "0")]).await;
    assert_eq!(off.location(), format!("/family/{family}/account?done=password"), "{}", off.body);
    let mut with_password = Visitor::new(server);
    let page = with_password.get("/sign-in").await;
    let refused = with_password.post("/sign-in", &[("csrf", &page.csrf()), ("login", "claire"), ("password", WEB_PASSWORD)]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("connexion par mot de passe est désactivée"), "{}", refused.body);
    // A wrong password still says only that it is wrong.
    let page = with_password.get("/sign-in").await;
    let wrong = with_password.post("/sign-in", &[("csrf", &page.csrf()), ("login", "claire"), ("password", "pas le bon mot de passe")]).await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    let mut again = Visitor::new(server);
    assert_eq!(provider_sign_in(s, &mut again, "claire.academie").await.status, 200);
    assert_eq!(again.get(&format!("/family/{family}")).await.status, 200);
    // Unlinking brings the password back, so that nobody is left without a way in.
    let account = again.get(&format!("/family/{family}/account")).await;
    let unlinked = again.post(&format!("/family/{family}/account/identities/academie/unlink"), &[("csrf", &account.csrf())]).await;
    assert_eq!(unlinked.status, 303, "{}", unlinked.body);
    let mut back = Visitor::new(server);
    sign_in(&mut back, "claire", WEB_PASSWORD).await;
    let mut gone = Visitor::new(server);
    let answer = provider_sign_in(s, &mut gone, "claire.academie").await;
    assert_refused(&mut gone, &answer, 403, "n&#39;est liée à aucun compte Cartable", &family).await;

    // Sign-ins that come back (here, cancelled at the provider) give their start back: seventy in a row from one
    // address go through, since none stays under way.
    let mut cancelling = Visitor::new(server);
    for i in 0..70 {
        let authorize = authorization(cancelling.get("/sign-in/oidc/academie").await).await;
        let state = authorize.split(['?', '&']).find_map(|p| p.strip_prefix("state=")).expect("a state").to_owned();
        let answer = cancelling.get(&format!("/sign-in/oidc/academie/callback?error=access_denied&state={state}")).await;
        assert_eq!(answer.status, 400, "sign-in {i}: {}", answer.body);
        assert!(answer.body.contains("annulée ou refusée chez le fournisseur"), "sign-in {i}: {}", answer.body);
    }

    // A flood of starts from one address (each would keep a row for ten minutes): refused within sixty, with when to
    // come back, and the rows kept stay within that bound.
    let mut flood = Visitor::new(server);
    let mut refusal = None;
    for _ in 0..61 {
        let answer = flood.get("/sign-in/oidc/academie").await;
        if answer.status == 429 {
            refusal = Some(answer);
            break;
        }
        assert_eq!(answer.status, 303, "{}", answer.body);
    }
    let refusal = refusal.expect("sixty-one starts from one address in ten minutes were all let through");
    assert!(refusal.body.contains("Trop de connexions ont été commencées depuis cette adresse"), "{}", refusal.body);
    assert!(refusal.headers.get("retry-after").is_some_and(|v| v.to_str().unwrap().parse::<u64>().unwrap() > 0), "{:?}", refusal.headers);
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oidc_pending").fetch_one(&server.database().await).await.unwrap();
    assert!(kept <= 60, "{kept} sign-ins kept");
    assert_eq!(flood.get("/sign-in/oidc/academie").await.status, 429, "refused while the window lasts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_signs_in_through_the_provider_in_a_browser() {
    use thirtyfour::prelude::*;
    use web_support::browser::{fill, shoot, wait_for};
    let Some(modules) = node_modules() else { return };
    let Some((profile, driver)) = web_support::browser::browser().await else { return };
    let s = setup(Backend::Sqlite, &modules).await;
    let server = &s.server;
    let url = |path: &str| format!("{}{path}", server.url);
    let story = async {
        let WebFamily { family, .. } = WebFamily::create(server, "Martin", "claire").await;
        // In French, as a family here would see it.
        driver.goto(url("/lang/fr?next=/sign-in")).await.unwrap();
        shoot(&driver, "oidc-sign-in").await;
        fill(&driver, "login", "claire").await;
        fill(&driver, "password", WEB_PASSWORD).await;
        driver.find(By::Css("form[action='/sign-in'] button[type=submit]")).await.unwrap().click().await.unwrap();
        wait_for(&driver, &["Claire Martin"]).await;
        driver.goto(url(&format!("/family/{family}/account"))).await.unwrap();
        shoot(&driver, "account").await;
        driver.find(By::Id("link-academie")).await.unwrap().click().await.unwrap();
        // The provider's login form, once the browser is there.
        let mut found = None;
        for _ in 0..100 {
            if let Ok(field) = driver.find(By::Name("login")).await {
                found = Some(field);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let Some(login) = found else {
            panic!("the provider's form never showed: {} {}", driver.current_url().await.unwrap(), driver.source().await.unwrap());
        };
        login.send_keys("claire.navigateur").await.unwrap();
        driver.find(By::Name("password")).await.unwrap().send_keys("peu importe").await.unwrap();
        driver.find(By::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        driver.set_window_rect(0, 0, 1280, 800).await.unwrap();
        for _ in 0..100 {
            if driver.find(By::Id("identity-academie-linked")).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        driver.find(By::Id("identity-academie-linked")).await.expect("the account page says the provider is linked");
        shoot(&driver, "account-linked").await;
        driver.find(By::Css("form.sign-out button")).await.unwrap().click().await.unwrap();
        wait_for(&driver, &["Vous êtes déconnecté"]).await;
        driver.find(By::Id("oidc-academie")).await.unwrap().click().await.unwrap();
        // The provider remembers her (its own session): she may not see its form again.
        for _ in 0..50 {
            if let Ok(field) = driver.find(By::Name("login")).await {
                field.send_keys("claire.navigateur").await.unwrap();
                driver.find(By::Name("password")).await.unwrap().send_keys("peu importe").await.unwrap();
                driver.find(By::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
                break;
            }
            if driver.current_url().await.unwrap().as_str().starts_with(&server.url) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        wait_for(&driver, &["Bonjour Claire Martin"]).await;
        assert_eq!(driver.current_url().await.unwrap().as_str(), url(&format!("/family/{family}")));
        // A service's request about Léo shows in her notifications.
        let leo = server.cli(&["member", "add", "--family", &family, "--role", "child", "--name", "Léo", "--birth-date", &api_support::born_years_ago(9)]);
        let client = server.client();
        let service = client.service(client.register_service("Cours du soir").await.unwrap());
        service.request_access(&web_support::grades_request(&family, leo["member_id"].as_str().unwrap(), "révisions", 30)).await.unwrap();
        driver.find(By::LinkText("Notifications")).await.unwrap().click().await.unwrap();
        wait_for(&driver, &["Cours du soir demande l'accès", "Nouveau"]).await;
        shoot(&driver, "notifications").await;
        // Signed out, through the provider whose clock is late: its expired ID token is refused with a page that
        // says so, and nobody is signed in.
        driver.find(By::Css("form.sign-out button")).await.unwrap().click().await.unwrap();
        wait_for(&driver, &["Vous êtes déconnecté"]).await;
        driver.find(By::Id("oidc-retard")).await.unwrap().click().await.unwrap();
        for _ in 0..100 {
            if driver.find(By::Name("login")).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        driver.find(By::Name("login")).await.unwrap().send_keys("claire.navigateur").await.unwrap();
        driver.find(By::Name("password")).await.unwrap().send_keys("peu importe").await.unwrap();
        driver.find(By::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        wait_for(&driver, &["Connexion refusée", "déjà périmée"]).await;
        shoot(&driver, "oidc-refused").await;
        driver.goto(url(&format!("/family/{family}"))).await.unwrap();
        assert_eq!(driver.current_url().await.unwrap().as_str(), url("/sign-in"), "nobody is signed in");
    };
    within(180, "the browser's OpenID story", story).await;
    driver.quit().await.unwrap();
    drop(profile);
}
