//! What the API tests share: the real server binary on 127.0.0.1:0 over a fresh vault (SQLite, or a fresh
//! PostgreSQL database when `CARTABLE_TEST_DATABASE_URL` is set), families set up with the CLI, and the SDK.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cartable_sdk::{Client, FamilyId, MemberId, NewAccessRequest, RecordId};
use serde_json::Value;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn pg_admin_url() -> Option<String> {
    std::env::var("CARTABLE_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// SQLite always; PostgreSQL too when the test script started one.
pub fn backends() -> Vec<Backend> {
    if pg_admin_url().is_some() {
        vec![Backend::Sqlite, Backend::Postgres]
    } else {
        eprintln!("PostgreSQL leg skipped: CARTABLE_TEST_DATABASE_URL is not set (scripts/test.sh sets it)");
        vec![Backend::Sqlite]
    }
}

/// A running `cartable serve` and its data folder; killed on drop.
pub struct Server {
    child: Child,
    pub url: String,
    pub dir: tempfile::TempDir,
    /// The data folder (inside `dir`, or the first server's for [`Server::start_beside`]).
    pub data: PathBuf,
    pub database_url: Option<String>,
    /// Everything the server wrote to stderr (its log).
    pub log: Arc<Mutex<Vec<u8>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh PostgreSQL database on the test cluster.
async fn fresh_pg_database() -> String {
    use sqlx::Connection as _;
    let admin = pg_admin_url().expect("the PostgreSQL leg needs CARTABLE_TEST_DATABASE_URL");
    let name = format!("cartable_api_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to the test cluster");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.expect("create a database");
    format!("{}/{name}", &admin[..admin.rfind('/').expect("a database url has a path")])
}

impl Server {
    pub async fn start(backend: Backend) -> Server {
        Server::start_with(backend, &[]).await
    }

    /// Starts the server with extra environment variables (e.g. a short access-token lifetime).
    pub async fn start_with(backend: Backend, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(fresh_pg_database().await),
        };
        let data = dir.path().join("data");
        Server::spawn(dir, data, database_url, env)
    }

    /// A second server process on this one's vault (data folder and database), as when two run behind a proxy.
    pub fn start_beside(&self, env: &[(&str, &str)]) -> Server {
        Server::spawn(tempfile::tempdir().unwrap(), self.data.clone(), self.database_url.clone(), env)
    }

    fn spawn(dir: tempfile::TempDir, data: PathBuf, database_url: Option<String>, env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cartable"));
        command.arg("--data").arg(&data);
        if let Some(url) = &database_url {
            command.arg("--database-url").arg(url);
        }
        command
            // A test that must know the address before the start (a public_url) names it with CARTABLE_LISTEN.
            .args(["serve", "--listen", env.iter().find(|(k, _)| *k == "CARTABLE_LISTEN").map_or("127.0.0.1:0", |(_, v)| *v)])
            .env_remove("CARTABLE_DATABASE_URL")
            .env_remove("CARTABLE_LISTEN")
            .env("CARTABLE_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start the server");
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("the server did not start: {}", String::from_utf8_lossy(&log.lock().unwrap()));
            }
        };
        Server { child, url, dir, data, database_url, log }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url).unwrap()
    }

    /// Runs the CLI on the same vault; returns its JSON output.
    pub fn cli(&self, args: &[&str]) -> Value {
        self.cli_in(args, None)
    }

    pub fn cli_in(&self, args: &[&str], stdin: Option<&str>) -> Value {
        self.command_line().json_in(args, stdin)
    }

    /// Runs a CLI command on the same vault that must fail; returns its one-line error.
    pub fn cli_fails(&self, args: &[&str]) -> String {
        self.command_line().fails(args)
    }

    fn command_line(&self) -> crate::cli_support::Cli {
        crate::cli_support::Cli { data: self.data.clone(), database_url: self.database_url.clone() }
    }

    /// The same vault, opened in this process (for what HTTP cannot do, like moving the clock of a sweep).
    pub async fn vault(&self) -> cartable_vault::Vault {
        let mut config = cartable_vault::VaultConfig::embedded(self.data.clone());
        config.database_url = self.database_url.clone();
        cartable_vault::Vault::open(config).await.unwrap()
    }

    /// The vault's database, as its administrator (or an attacker with access to it) reaches it.
    pub async fn database(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url = self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data.join("cartable.db").display()));
        sqlx::AnyPool::connect(&url).await.unwrap()
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server process's id (to read its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

/// A family set up through the CLI: a guardian with a password, a child, and a few grades.
pub struct FamilyFixture {
    pub family: FamilyId,
    pub guardian: MemberId,
    pub child: MemberId,
    pub grades: Vec<RecordId>,
}

fn id<T: std::str::FromStr>(v: &Value, field: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    v[field].as_str().unwrap_or_else(|| panic!("no {field} in {v}")).parse().unwrap()
}

/// A birth date `years` years ago today (minus a few days, so the birthday has passed).
pub fn born_years_ago(years: i32) -> String {
    let today = time::OffsetDateTime::now_utc().date() - time::Duration::days(3);
    let date = today.replace_year(today.year() - years).unwrap_or(today);
    date.to_string()
}

impl FamilyFixture {
    pub fn create(server: &Server, name: &str, child_age: i32, grades: usize) -> FamilyFixture {
        let family: FamilyId = id(&server.cli(&["family", "create", "--name", name]), "family_id");
        let f = family.to_string();
        let guardian: MemberId = id(&server.cli(&["member", "add", "--family", &f, "--role", "guardian", "--name", "Claire"]), "member_id");
        let birth = born_years_ago(child_age);
        let child: MemberId =
            id(&server.cli(&["member", "add", "--family", &f, "--role", "child", "--name", "Léa", "--birth-date", &birth]), "member_id");
        server.cli_in(&["member", "set-password", "--family", &f, "--member", &guardian.to_string()], Some(&format!("{PASSWORD}\n")));
        let mut ids = Vec::new();
        for i in 0..grades {
            let body = serde_json::json!({"subject": "mathématiques", "grade": 10 + i, "comment": format!("secret-comment-{i}")}).to_string();
            let v = server.cli_in(&["record", "put", "--family", &f, "--child", &child.to_string(), "--doctype", "edu.grades", "--body", "-"], Some(&body));
            ids.push(id(&v, "record_id"));
        }
        FamilyFixture { family, guardian, child, grades: ids }
    }

    /// Another child in the same family, with one grade.
    pub fn add_child(&self, server: &Server, age: i32) -> (MemberId, RecordId) {
        let f = self.family.to_string();
        let birth = born_years_ago(age);
        let child: MemberId =
            id(&server.cli(&["member", "add", "--family", &f, "--role", "child", "--name", "Hugo", "--birth-date", &birth]), "member_id");
        let v = server.cli_in(
            &["record", "put", "--family", &f, "--child", &child.to_string(), "--doctype", "edu.grades", "--body", "-"],
            Some(r#"{"subject": "histoire", "grade": 12}"#),
        );
        (child, id(&v, "record_id"))
    }

    pub fn request(&self, doctypes: &[&str], actions: &[&str]) -> NewAccessRequest {
        NewAccessRequest {
            family_id: self.family,
            child_id: self.child,
            doctypes: doctypes.iter().map(|s| s.to_string()).collect(),
            actions: actions.iter().map(|s| s.to_string()).collect(),
            purpose: "suivi scolaire".to_owned(),
            legal_basis: "consent".to_owned(),
            duration_days: 30,
        }
    }
}

/// A port of 127.0.0.1 free a moment ago, for a server whose address must be known before it starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Bounds a test step in time.
pub async fn within<T>(seconds: u64, what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), f).await.unwrap_or_else(|_| panic!("{what} took more than {seconds} s"))
}

/// Every ledger entry of the family (through the API), oldest first.
pub async fn all_entries(session: &cartable_sdk::FamilySession) -> Vec<cartable_sdk::LedgerEntry> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = session.ledger(after, 1000).await.unwrap();
        let done = page.next_after.is_none();
        after = page.next_after;
        out.extend(page.entries);
        if done {
            return out;
        }
    }
}

pub fn event(entry: &cartable_sdk::LedgerEntry) -> &str {
    entry.receipt["event"].as_str().unwrap_or("")
}

/// Appoints a DPO at the console (the operator's, or `service`'s), accepts their invitation through the web form
/// as the DPO would (their sign-in name and [`PASSWORD`]), and signs them in over the API.
pub async fn appoint_dpo(server: &Server, name: &str, service: Option<cartable_sdk::ServiceId>, login: &str) -> cartable_sdk::DpoSession {
    let service = service.map(|s| s.to_string());
    let mut args = vec!["dpo", "add", "--name", name, "--invite"];
    if let Some(service) = &service {
        args.extend(["--service", service.as_str()]);
    }
    let created = server.cli(&args);
    let link = created["invitation"].as_str().expect("an invitation link");
    let url = format!("{}{}", server.url, &link[link.find("/invitation/").expect("an invitation path")..]);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200, "the DPO's invitation page");
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let body = page.text().await.unwrap();
    let at = body.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    let csrf = &body[at..at + body[at..].find('"').unwrap()];
    let form = serde_urlencoded::to_string([("csrf", csrf), ("login", login), ("password", PASSWORD), ("password2", PASSWORD)]).unwrap();
    let done = http.post(&url).header("cookie", cookie).header("content-type", "application/x-www-form-urlencoded").body(form).send().await.unwrap();
    assert_eq!(done.status(), 303, "the DPO's invitation accepted: {}", done.text().await.unwrap());
    server.client().sign_in_dpo(login, PASSWORD).await.expect("the DPO signs in")
}

/// Every file under `dir` with its bytes, as someone with the disk reads them (a file removed meanwhile is skipped).
pub fn stored_bytes(dir: &std::path::Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The database's data as `pg_dump` writes it (`CARTABLE_PG_DUMP`, set by `scripts/test.sh`, names the program).
pub fn pg_dump(url: &str) -> Vec<u8> {
    let bin = std::env::var("CARTABLE_PG_DUMP").unwrap_or_else(|_| "pg_dump".to_owned());
    let out = Command::new(bin).arg("--data-only").arg(url).output().expect("pg_dump runs");
    assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}
