//! Notifications as a family gets them, against a real SMTP server on 127.0.0.1 (`aiosmtpd` with STARTTLS, its
//! throwaway CA given to Cartable as `smtp_ca_file`; `tests/smtp/server.py`, installed by `scripts/test.sh`):
//! a service's request makes one e-mail to each guardian and to the 15-year-old whose co-approval it needs, each in
//! the member's language, with a link that opens the page and none of the child's data; the first use of the grant
//! is told once; with the SMTP server down, a revocation succeeds, and its e-mails arrive once the server is back.
//! The web UI's notification list shows the same, and a member who wants no e-mail gets none.

mod api_support;
mod cli_support;
mod web_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use api_support::{Server, backends, born_years_ago, free_port, within};
use web_support::{Answer, Visitor, WebFamily, grades_request, invitation_path};

/// The SMTP server of the test, stopped and started again on the same port and folder.
struct Smtp {
    python: String,
    port: u16,
    maildir: PathBuf,
    ca: PathBuf,
    child: Option<Child>,
}

impl Smtp {
    fn new(dir: &Path) -> Option<Smtp> {
        let Some(python) = std::env::var("CARTABLE_TEST_SMTP_PYTHON").ok().filter(|p| !p.is_empty()) else {
            eprintln!("notification test skipped: CARTABLE_TEST_SMTP_PYTHON is not set (scripts/test.sh installs aiosmtpd and sets it)");
            return None;
        };
        let maildir = dir.join("mail");
        std::fs::create_dir_all(&maildir).unwrap();
        Some(Smtp { python, port: free_port(), maildir, ca: dir.join("ca.pem"), child: None })
    }

    fn start(&mut self) {
        use std::io::BufRead as _;
        let mut child = Command::new(&self.python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/server.py"))
            .env("SMTP_PORT", self.port.to_string())
            .env("SMTP_MAILDIR", &self.maildir)
            .env("SMTP_CA_FILE", &self.ca)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP server");
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        // What it prints later (notices) is read and dropped: a closed pipe would end the process.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far: (recipients, the whole message).
    fn received(&self) -> Vec<(Vec<String>, String)> {
        let mut names: Vec<_> = std::fs::read_dir(&self.maildir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
        names.sort();
        names
            .iter()
            .map(|path| {
                let mail: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
                let to = mail["rcpt_tos"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
                (to, mail["data"].as_str().unwrap().to_owned())
            })
            .collect()
    }

    /// Waits until `count` messages have arrived in all (30 s at most), then a moment more to see that no other does.
    async fn wait_for(&self, count: usize) -> Vec<(Vec<String>, String)> {
        for _ in 0..300 {
            if self.received().len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let received = self.received();
        assert_eq!(received.len(), count, "messages received: {:#?}", received);
        received
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The message sent to `address` among `mails` (exactly one).
fn to<'a>(mails: &'a [(Vec<String>, String)], address: &str) -> &'a str {
    let found: Vec<_> = mails.iter().filter(|(to, _)| to.iter().any(|t| t == address)).collect();
    assert_eq!(found.len(), 1, "messages to {address}: {mails:#?}");
    &found[0].1
}

/// The message's text part, its soft line breaks and quoted-printable escapes undone.
fn text_of(message: &str) -> String {
    use base64::Engine as _;
    let split = message.find("\r\n\r\n").or_else(|| message.find("\n\n")).unwrap();
    let body = &message[split..];
    if message[..split].to_ascii_lowercase().contains("content-transfer-encoding: base64") {
        let clean: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        return String::from_utf8(base64::engine::general_purpose::STANDARD.decode(clean).unwrap()).unwrap();
    }
    let joined = body.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit() {
            out.push(u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap(), 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The subject, its RFC 2047 encoded words decoded by the simplest means (base64 or Q, UTF-8).
fn subject_of(message: &str) -> String {
    use base64::Engine as _;
    let line = message.lines().find(|l| l.starts_with("Subject: ")).unwrap();
    let mut subject = line["Subject: ".len()..].to_owned();
    // Continuation lines of a folded header.
    let after: Vec<&str> = message.lines().skip_while(|l| !l.starts_with("Subject: ")).skip(1).take_while(|l| l.starts_with(' ') || l.starts_with('\t')).collect();
    for more in after {
        subject.push_str(more);
    }
    // Words apart by a space, but two encoded words in a row (RFC 2047: the space between them is not text).
    let mut out = String::new();
    let mut last_encoded = false;
    for word in subject.split_whitespace() {
        let encoded = word.strip_prefix("=?utf-8?b?").or_else(|| word.strip_prefix("=?UTF-8?B?")).and_then(|w| w.strip_suffix("?="));
        let glued = last_encoded && encoded.is_some();
        if !out.is_empty() && !glued {
            out.push(' ');
        }
        match encoded {
            Some(encoded) => out.push_str(&String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap()),
            None => out.push_str(word),
        }
        last_encoded = encoded.is_some();
    }
    out
}

/// The link of a message that leads to `page`, as a path of the server.
fn link(text: &str, public_url: &str) -> String {
    let at = text.find(public_url).unwrap_or_else(|| panic!("no link to {public_url} in {text}"));
    let rest = &text[at + public_url.len()..];
    rest[..rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len())].to_owned()
}

fn shown_link(answer: &Answer) -> String {
    let at = answer.body.find("id=\"invitation-link\">").unwrap_or_else(|| panic!("no invitation link in {}", answer.body));
    let rest = &answer.body[at + "id=\"invitation-link\">".len()..];
    invitation_path(&rest[..rest.find('<').unwrap()])
}

async fn accept(server: &Server, path: &str, name: Option<&str>, login: &str) -> Visitor {
    let mut visitor = Visitor::new(server);
    let page = visitor.get(path).await;
    let csrf = page.csrf();
    let mut form = vec![("csrf", csrf.as_str()), ("login", login), ("password", web_support::WEB_PASSWORD), ("password2", web_support::WEB_PASSWORD)];
    if let Some(name) = name {
        form.push(("name", name));
    }
    let done = visitor.post(path, &form).await;
    assert_eq!(done.status, 303, "{}", done.body);
    web_support::sign_in(&mut visitor, login, web_support::WEB_PASSWORD).await;
    visitor
}

/// The member's choices, through their account page's form.
async fn choose(visitor: &mut Visitor, family: &str, email: &str, language: &str, kinds: &[&str]) {
    let page = visitor.get(&format!("/family/{family}/account")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.csrf();
    let mut form = vec![("csrf", csrf.as_str()), ("email", email), ("language", language)];
    let names: Vec<String> = kinds.iter().map(|k| format!("kind_{k}")).collect();
    for name in &names {
        form.push((name.as_str(), "on"));
    }
    let saved = visitor.post(&format!("/family/{family}/account/notifications"), &form).await;
    assert_eq!((saved.status, saved.location()), (303, format!("/family/{family}/account?done=saved")), "{}", saved.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_is_told_by_email_and_on_its_pages() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let Some(mut smtp) = Smtp::new(dir.path()) else { return };
        smtp.start();
        within(240, "the notification story", story(backend, &mut smtp)).await;
    }
}

async fn story(backend: api_support::Backend, smtp: &mut Smtp) {
    let port = free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let smtp_port = smtp.port.to_string();
    let ca = smtp.ca.display().to_string();
    let listen = format!("127.0.0.1:{port}");
    let server = Server::start_with(
        backend,
        &[
            ("CARTABLE_LISTEN", &listen),
            ("CARTABLE_PUBLIC_URL", &public_url),
            ("CARTABLE_SMTP_HOST", "127.0.0.1"),
            ("CARTABLE_SMTP_PORT", &smtp_port),
            ("CARTABLE_SMTP_TLS", "starttls"),
            ("CARTABLE_SMTP_CA_FILE", &ca),
            ("CARTABLE_MAIL_FROM", "Cartable <cartable@ecole.example>"),
            ("CARTABLE_NOTIFY_RETRY_SECONDS", "1"),
        ],
    )
    .await;
    assert_eq!(server.url, public_url);

    // Claire (French), Karim (English) and Zoé, 15, who signs in herself.
    let WebFamily { family, guardian: mut claire, .. } = WebFamily::create(&server, "Martin", "claire").await;
    let zoe = server.cli(&["member", "add", "--family", &family, "--role", "child", "--name", "Zoé Martin", "--birth-date", &born_years_ago(15)]);
    let zoe = zoe["member_id"].as_str().unwrap().to_owned();
    server.cli_in(&["record", "put", "--family", &family, "--child", &zoe, "--doctype", "edu.grades", "--body", "-"], Some(r#"{"subject": "Philosophie", "grade": 17.5}"#));
    let settings = format!("/family/{family}/settings");
    let csrf = claire.get(&settings).await.csrf();
    let invited = claire.post(&format!("{settings}/invite-guardian"), &[("csrf", &csrf)]).await;
    let mut karim = accept(&server, &shown_link(&invited), Some("Karim Martin"), "karim").await;
    let invited = claire.post(&format!("{settings}/invite-child"), &[("csrf", &csrf), ("child", &zoe)]).await;
    let mut teen = accept(&server, &shown_link(&invited), None, "zoe").await;
    let all = ["request", "first_use", "expiring", "ended"];
    choose(&mut claire, &family, "claire@famille.example", "fr", &all).await;
    choose(&mut karim, &family, "karim@famille.example", "en", &all).await;
    // Zoé wants requests only.
    choose(&mut teen, &family, "zoe@famille.example", "fr", &["request"]).await;
    // A bad address is refused and changes nothing.
    let page = claire.get(&format!("/family/{family}/account")).await;
    let refused = claire.post(&format!("/family/{family}/account/notifications"), &[("csrf", &page.csrf()), ("email", "claire@"), ("language", "fr"), ("kind_request", "on")]).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("n&#39;est pas valable"), "{}", refused.body);
    assert!(claire.get(&format!("/family/{family}/account")).await.body.contains("value=\"claire@famille.example\""));

    // A service asks about Zoé: both guardians and Zoé herself must approve; each gets one e-mail.
    let client = server.client();
    let service = client.service(client.register_service("Lycée en ligne").await.unwrap());
    let pending = service.request_access(&grades_request(&family, &zoe, "exercices adaptés pour Zoé", 30)).await.unwrap();
    let grant = pending.request_id.0.to_string();
    let mails = smtp.wait_for(3).await;
    let (claire_mail, karim_mail, zoe_mail) = (to(&mails, "claire@famille.example"), to(&mails, "karim@famille.example"), to(&mails, "zoe@famille.example"));
    assert_eq!(subject_of(claire_mail), "Cartable : une demande attend votre décision", "{claire_mail}");
    assert_eq!(subject_of(karim_mail), "Cartable: a request awaits your decision", "{karim_mail}");
    assert_eq!(subject_of(zoe_mail), "Cartable : une demande attend votre décision", "{zoe_mail}");
    assert!(text_of(claire_mail).contains("Lycée en ligne demande l'accès à des données de votre famille"), "{}", text_of(claire_mail));
    assert!(text_of(karim_mail).contains("Lycée en ligne asks for access to some of your family's data"), "{}", text_of(karim_mail));
    for (mail, visitor) in [(claire_mail, &mut claire), (karim_mail, &mut karim), (zoe_mail, &mut teen)] {
        assert!(mail.contains("From: Cartable <cartable@ecole.example>"), "{mail}");
        let text = text_of(mail);
        // None of the child's data: not her name, not the purpose the service wrote, not her grades.
        for secret in ["Zoé", "Zoe", "exercices adaptés", "Philosophie", "17.5", &zoe] {
            assert!(!text.contains(secret) && !mail.contains(secret), "`{secret}` is in an e-mail: {mail}");
        }
        // The link opens the requests page, where the request is.
        let path = link(&text, &public_url);
        assert_eq!(path, format!("/family/{family}/requests"), "{text}");
        let page = visitor.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(&format!("id=\"approve-{grant}\"")), "{}", page.body);
        // And the link to the member's choices.
        assert!(text.contains(&format!("{public_url}/family/{family}/account")), "{text}");
    }

    // The notification list: new, then read once seen.
    let list = claire.get(&format!("/family/{family}/notifications")).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("Lycée en ligne demande l&#39;accès") && list.body.contains("Nouveau"), "{}", list.body);
    assert!(!claire.get(&format!("/family/{family}/notifications")).await.body.contains("Nouveau"), "seen notifications are read");
    karim.language = Some("en");
    assert!(karim.get(&format!("/family/{family}/notifications")).await.body.contains("Lycée en ligne asks for access"));

    // Claire approves, then Zoé: the grant is in force; its first use is told once (to the guardians: Zoé wants
    // requests only, so hers stays in the web UI).
    for visitor in [&mut claire, &mut teen] {
        let requests = visitor.get(&format!("/family/{family}/requests")).await;
        let approved = visitor.post(&format!("/family/{family}/requests/{grant}/approve"), &[("csrf", &requests.csrf())]).await;
        assert_eq!(approved.status, 303, "{}", approved.body);
    }
    let access = service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();
    for _ in 0..3 {
        access.list_records("edu.grades", None, 10).await.unwrap();
    }
    let mails = smtp.wait_for(5).await;
    let first_use: Vec<_> = mails[3..].iter().map(|(to, mail)| (to[0].as_str(), subject_of(mail))).collect();
    assert!(first_use.contains(&("claire@famille.example", "Cartable : un accès a servi pour la première fois".to_owned())), "{first_use:?}");
    assert!(first_use.contains(&("karim@famille.example", "Cartable: an access was used for the first time".to_owned())), "{first_use:?}");
    assert!(teen.get(&format!("/family/{family}/notifications")).await.body.contains("a utilisé pour la première fois"));

    // The SMTP server goes down: Karim's revocation succeeds all the same, and is told once it is back.
    smtp.stop();
    let grants = karim.get(&format!("/family/{family}/grants")).await;
    let revoked = karim.post(&format!("/family/{family}/grants/{grant}/revoke"), &[("csrf", &grants.csrf())]).await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert!(matches!(access.list_records("edu.grades", None, 10).await, Err(cartable_sdk::SdkError::Revoked { .. })));
    // The failures are the operator's to see: in the log (no address) and in `cartable notifications`.
    for _ in 0..100 {
        if server.log_text().contains("it will be retried") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = server.log_text();
    assert!(log.contains("an e-mail could not be sent; it will be retried"), "{log}");
    assert!(!log.contains("famille.example"), "an address is in the log: {log}");
    let status = server.cli(&["notifications"]);
    assert!(status["retrying"].as_u64().unwrap() >= 1, "{status}");
    assert!(status["last_errors"][0]["error"].as_str().unwrap().contains("connection"), "{status}");
    smtp.start();
    let mails = smtp.wait_for(7).await;
    let ended: Vec<_> = mails[5..].iter().map(|(to, mail)| (to[0].as_str(), subject_of(mail))).collect();
    assert!(ended.contains(&("claire@famille.example", "Cartable : un accès a pris fin".to_owned())), "{ended:?}");
    assert!(ended.contains(&("karim@famille.example", "Cartable: an access has ended".to_owned())), "{ended:?}");
    let status = server.cli(&["notifications"]);
    assert_eq!((status["retrying"].as_u64(), status["failed"].as_u64()), (Some(0), Some(0)), "{status}");
    assert!(status["sent"].as_u64().unwrap() >= 7, "{status}");

    // Nothing of the family's reached the SMTP server's folder but what the e-mails say.
    for (_, mail) in smtp.received() {
        assert!(!mail.contains("Philosophie"), "{mail}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_notifications_stay_in_the_web_ui() {
    let server = Server::start(api_support::Backend::Sqlite).await;
    let WebFamily { family, guardian: mut claire, .. } = WebFamily::create(&server, "Martin", "claire").await;
    let leo = server.cli(&["member", "add", "--family", &family, "--role", "child", "--name", "Léo", "--birth-date", &born_years_ago(10)]);
    let leo = leo["member_id"].as_str().unwrap().to_owned();
    let account = claire.get(&format!("/family/{family}/account")).await;
    assert!(account.body.contains("id=\"account-email-off\""), "{}", account.body);
    choose(&mut claire, &family, "claire@famille.example", "fr", &["request"]).await;
    let client = server.client();
    let service = client.service(client.register_service("Soutien scolaire").await.unwrap());
    let pending = service.request_access(&grades_request(&family, &leo, "soutien", 30)).await.unwrap();
    let grant = pending.request_id.0.to_string();
    let list = claire.get(&format!("/family/{family}/notifications")).await;
    assert!(list.body.contains("Soutien scolaire demande l&#39;accès"), "{}", list.body);
    let requests = claire.get(&format!("/family/{family}/requests")).await;
    assert_eq!(claire.post(&format!("/family/{family}/requests/{grant}/approve"), &[("csrf", &requests.csrf())]).await.status, 303);
    // Three weeks and a half later (the sweeper's work, run as it would then): the grant ends within the week,
    // told once however often it looks; a month later it has ended.
    let vault = server.vault().await;
    let family_id: cartable_consent::FamilyId = family.parse().unwrap();
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(25);
    assert!(vault.families_with_grants_ending(later + time::Duration::days(7)).await.unwrap().contains(&family_id));
    assert_eq!(vault.notify_grants_ending(family_id, later, time::Duration::days(7)).await.unwrap(), 1);
    assert_eq!(vault.notify_grants_ending(family_id, later + time::Duration::days(1), time::Duration::days(7)).await.unwrap(), 0);
    assert_eq!(vault.sweep(family_id, later + time::Duration::days(6)).await.unwrap(), 1);
    let list = claire.get(&format!("/family/{family}/notifications")).await;
    for words in ["Soutien scolaire demande", "accordé à Soutien scolaire prend fin dans moins d&#39;une semaine", "accordé à Soutien scolaire a pris fin"] {
        assert!(list.body.contains(words), "`{words}`: {}", list.body);
    }
    assert_eq!(list.body.matches("prend fin dans").count(), 1, "{}", list.body);
    let status = server.cli(&["notifications"]);
    assert_eq!(status["sent"].as_u64(), Some(0), "{status}");
    assert!(!server.log_text().contains("e-mail"), "{}", server.log_text());
}
