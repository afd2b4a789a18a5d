//! What the web UI's tests share: a small cookie-keeping HTTP client that does not follow redirects (so tests see
//! each answer), and a family whose first guardian came in through the invitation link, as a person would.

#![allow(dead_code)]

pub mod axe;
pub mod browser;

use std::collections::BTreeMap;

use crate::api_support::Server;

/// A visitor without a browser: keeps cookies, sends forms, never follows redirects.
pub struct Visitor {
    http: reqwest::Client,
    base: String,
    pub cookies: BTreeMap<String, String>,
    pub language: Option<&'static str>,
}

/// One answer: status, headers, body.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> String {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
    }

    /// The value of a hidden `csrf` field of the page (the first form's).
    pub fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").unwrap_or_else(|| panic!("no CSRF field in {}", self.body));
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl Visitor {
    pub fn new(server: &Server) -> Visitor {
        Visitor::at(&server.url)
    }

    /// A visitor of the server at `url`.
    pub fn at(url: &str) -> Visitor {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Visitor { http, base: url.to_owned(), cookies: BTreeMap::new(), language: None }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let mut request = request.header("cookie", self.cookie_header());
        if let Some(language) = self.language {
            request = request.header("accept-language", language);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for value in headers.get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Answer { status, headers, body: response.text().await.unwrap() }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(form).unwrap();
        let request = self.http.post(format!("{}{path}", self.base)).header("content-type", "application/x-www-form-urlencoded").body(body);
        self.send(request).await
    }

    /// A `multipart/form-data` form, as a browser sends one: the text fields in order, then the file field.
    pub async fn post_multipart(&mut self, path: &str, fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> Answer {
        let boundary = "----cartable-test-boundary-7d1f";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
        }
        let (field, file_name, bytes) = file;
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/zip\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let request = self.http.post(format!("{}{path}", self.base)).header("content-type", format!("multipart/form-data; boundary={boundary}")).body(body);
        self.send(request).await
    }
}

/// The path of an invitation link printed by `cartable family create --invite`.
pub fn invitation_path(link: &str) -> String {
    link[link.find("/invitation/").expect("an invitation link")..].to_owned()
}

/// A family created by the operator with an invitation, whose first guardian accepted it and signed in.
pub struct WebFamily {
    pub family: String,
    pub guardian: Visitor,
    pub login: String,
}

pub const WEB_PASSWORD: &str = "un mot de passe assez long";

impl WebFamily {
    pub async fn create(server: &Server, name: &str, login: &str) -> WebFamily {
        let created = server.cli(&["family", "create", "--name", name, "--invite"]);
        let family = created["family_id"].as_str().unwrap().to_owned();
        let path = invitation_path(created["invitation"].as_str().unwrap());
        let mut guardian = Visitor::new(server);
        let page = guardian.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.csrf();
        let done = guardian.post(&path, &[("csrf", &csrf), ("name", "Claire Martin"), ("login", login), ("password", WEB_PASSWORD), ("password2", WEB_PASSWORD)]).await;
        assert_eq!((done.status, done.location()), (303, "/sign-in?done=account".to_owned()), "{}", done.body);
        sign_in(&mut guardian, login, WEB_PASSWORD).await;
        WebFamily { family, guardian, login: login.to_owned() }
    }
}

/// Signs in through the sign-in form; the visitor then holds the session.
pub async fn sign_in(visitor: &mut Visitor, login: &str, password: &str) -> Answer {
    let page = visitor.get("/sign-in").await;
    let csrf = page.csrf();
    let answer = visitor.post("/sign-in", &[("csrf", &csrf), ("login", login), ("password", password)]).await;
    assert_eq!(answer.status, 303, "sign-in failed: {}", answer.body);
    answer
}

/// A service's request to read and list one child's grades, with consent as its legal basis.
pub fn grades_request(family: &str, child: &str, purpose: &str, days: u32) -> cartable_sdk::NewAccessRequest {
    cartable_sdk::NewAccessRequest {
        family_id: family.parse().unwrap(),
        child_id: child.parse().unwrap(),
        doctypes: vec!["edu.grades".to_owned()],
        actions: vec!["read".to_owned(), "list".to_owned()],
        purpose: purpose.to_owned(),
        legal_basis: "consent".to_owned(),
        duration_days: days,
    }
}

/// Starts `cartable demo` on a data folder; returns the process, the address it serves and what it printed before.
pub fn start_demo(data: &std::path::Path) -> (std::process::Child, String, Vec<String>) {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cartable"))
        .arg("--data")
        .arg(data)
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env_remove("CARTABLE_DATABASE_URL")
        .env_remove("CARTABLE_LISTEN")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            return (child, url.trim().to_owned(), lines);
        }
        lines.push(line);
    }
    panic!("the demo did not start: {lines:?}");
}
