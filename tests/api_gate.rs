//! The gate, walked route by route. Every route of the OpenAPI document the running server serves is called with
//! valid credentials that must not reach family A's data, and every call is refused where the design says:
//!
//! - **another family's** guardian (session) and service (token of an active grant in family B): 404 on every
//!   route of family A, as for a family that does not exist; nothing appended to either family's ledger; each
//!   attempt counted for the operator (`cartable audit refusals`);
//! - **credentials of another kind** (none, a service's own HTTP Basic secret, a random bearer, a continuation
//!   handle): 401 on every route, nothing logged or counted;
//! - **a revoked service** (its grant about A's adult child revoked by the adult): 403 on every route, each call one
//!   `access_denied` entry in A's ledger naming the service;
//! - **A's guardian on the adult child's data**: 403 on every route about the adult, each call one
//!   `access_denied` entry in A's ledger naming the guardian, which the guardian's own view of the ledger does not
//!   show; the family-level routes (the family, members, the register) answer the guardian;
//! - **a DPO** (the operator's, signed in with their own session): 403 on every route that reads or changes the
//!   family's data, members or consent state, each call one `access_denied` entry in A's ledger naming the DPO; the
//!   register's reading routes answer, each call one `access_allowed` entry naming the DPO;
//! - **the DPO's console** (`/api/v1/register…`) answers no credential but a DPO's session: 401, nothing logged.
//!
//! The routes come from the document, not from a list here: a family route added later is walked too, and one this
//! file does not know fails the test until its expected refusals are written in [`INSIDERS`].

mod api_support;
mod cli_support;

use std::time::Duration;

use api_support::{Backend, FamilyFixture, PASSWORD, Server, all_entries, appoint_dpo, backends, within};
use base64::Engine as _;
use cartable_sdk::{ErrorCode, ErrorResponse};
use reqwest::Method;
use serde_json::{Value, json};

/// The prefix of every family route.
const FAMILY_ROUTES: &str = "/api/v1/families/{family}";

/// The routes of the document that are not about one family's data, so not walked: health, registration of a
/// service, members' sign-in and sign-out, the server's checkpoint key, a service's own access requests
/// (authenticated by the service's secret or its continuation handle, never by a session or an access token), and
/// an import (authenticated by the operator's invitation).
/// `/api/v1/openapi.json` is served beside the document, not in it. Every other route must be a family route.
const NOT_FAMILY_DATA: &[&str] = &[
    "/healthz",
    "/api/v1/services",
    "/api/v1/session",
    "/api/v1/dpo/session",
    "/api/v1/ledger/key",
    "/api/v1/access-requests",
    "/api/v1/access-requests/{request}/continue",
    // Authenticated by the operator's one-time import invitation; it makes a family, it reads none.
    "/api/v1/imports/{token}",
    // Sealed delivery: a service's own instances (its credentials), and the mailbox of the token's own grant, which
    // holds MLS ciphertexts and public keys only (tests/sealed.rs).
    "/api/v1/sealed/instances/{instance}/key-packages",
    "/api/v1/sealed/instances/{instance}",
    "/api/v1/sealed/mailbox",
];

/// The DPO's console: the register across families, for a DPO's session only (walked apart).
const DPO_CONSOLE: &str = "/api/v1/register";

/// How family A's guardian is answered on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guardian {
    /// The route is about the adult child's data (its path, or the body or query the walk sends, names the adult):
    /// 403 `denied`, logged.
    AboutTheAdult,
    /// A family-level route, the guardian's to use: it answers.
    FamilyLevel,
    /// The register about the adult: its reading is allowed (logged as `access_allowed`), then the vault's narrowing
    /// refuses to show the adult (403 `denied`).
    NarrowedAway,
}

/// How a DPO is answered on a family route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dpo {
    /// The family's data, members, or a change of its consent state: 403 `denied`, logged.
    Refused,
    /// Reading the register (grants, prohibitions, the ledger and its proofs): it answers, logged.
    ReadsTheRegister,
}

/// What the insiders get on each family route (the path after [`FAMILY_ROUTES`]): the revoked service's status and
/// code, the guardian's case and the DPO's. Outsiders and other kinds of credential get the same on every route.
const INSIDERS: &[(&str, &str, (u16, ErrorCode), Guardian, Dpo)] = &[
    ("GET", "", DENIED, Guardian::FamilyLevel, Dpo::Refused),
    ("POST", "/members", DENIED, Guardian::FamilyLevel, Dpo::Refused),
    ("GET", "/collections", DENIED, Guardian::FamilyLevel, Dpo::Refused),
    // Inside the revoked grant's child, doctype and actions: Cedar decides, and the grant's state says why.
    ("GET", "/children/{child}/collections/{doctype}/records", REVOKED, Guardian::AboutTheAdult, Dpo::Refused),
    ("POST", "/children/{child}/collections/{doctype}/records", REVOKED, Guardian::AboutTheAdult, Dpo::Refused),
    ("GET", "/records/{record}", REVOKED, Guardian::AboutTheAdult, Dpo::Refused),
    ("POST", "/children/{child}/collections/{doctype}/files", REVOKED, Guardian::AboutTheAdult, Dpo::Refused),
    ("GET", "/files/{record}", REVOKED, Guardian::AboutTheAdult, Dpo::Refused),
    // The revoked grant never covered the activities an import writes first.
    ("POST", "/children/{child}/imports/xapi", DENIED, Guardian::AboutTheAdult, Dpo::Refused),
    ("POST", "/children/{child}/imports/badges", DENIED, Guardian::AboutTheAdult, Dpo::Refused),
    ("POST", "/children/{child}/imports/files", DENIED, Guardian::AboutTheAdult, Dpo::Refused),
    // The walk maps a pupil of the set to the adult; the revoked grant never covered enrollments.
    ("POST", "/imports/oneroster", DENIED, Guardian::AboutTheAdult, Dpo::Refused),
    // Outside any grant a service may hold (the register, managing): refused before Cedar.
    ("GET", "/grants", DENIED, Guardian::FamilyLevel, Dpo::ReadsTheRegister),
    ("POST", "/grants/{grant}/approve", DENIED, Guardian::AboutTheAdult, Dpo::Refused),
    ("POST", "/grants/{grant}/deny", DENIED, Guardian::AboutTheAdult, Dpo::Refused),
    ("POST", "/grants/{grant}/confirm", DENIED, Guardian::AboutTheAdult, Dpo::Refused),
    ("DELETE", "/grants/{grant}", DENIED, Guardian::AboutTheAdult, Dpo::Refused),
    ("GET", "/prohibitions", DENIED, Guardian::FamilyLevel, Dpo::ReadsTheRegister),
    ("POST", "/prohibitions", DENIED, Guardian::AboutTheAdult, Dpo::Refused),
    ("DELETE", "/prohibitions/{doctype}", DENIED, Guardian::AboutTheAdult, Dpo::Refused),
    ("GET", "/ledger/entries", DENIED, Guardian::FamilyLevel, Dpo::ReadsTheRegister),
    ("GET", "/ledger/entries/{index}/proof", DENIED, Guardian::FamilyLevel, Dpo::ReadsTheRegister),
    ("GET", "/ledger/checkpoint", DENIED, Guardian::FamilyLevel, Dpo::ReadsTheRegister),
    ("GET", "/ledger/consistency", DENIED, Guardian::FamilyLevel, Dpo::ReadsTheRegister),
    ("GET", "/children/{child}/access-report", DENIED, Guardian::NarrowedAway, Dpo::ReadsTheRegister),
    // The revoked grant never covered searching; a guardian's search of the family is allowed, then narrowed to the
    // children the guardian may see, which leaves nothing of the adult.
    ("GET", "/search", DENIED, Guardian::NarrowedAway, Dpo::Refused),
    // The revoked grant never covered exporting; a guardian's archive is their view, without the adult's data.
    ("GET", "/archive", DENIED, Guardian::FamilyLevel, Dpo::Refused),
];

const DENIED: (u16, ErrorCode) = (403, ErrorCode::Denied);
const REVOKED: (u16, ErrorCode) = (403, ErrorCode::GrantRevoked);
const NOT_FOUND: (u16, ErrorCode) = (404, ErrorCode::NotFound);

/// One operation of the document.
struct Route {
    method: Method,
    path: String,
    operation: Value,
}

impl Route {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn insiders(&self) -> ((u16, ErrorCode), Guardian, Dpo) {
        let suffix = &self.path[FAMILY_ROUTES.len()..];
        INSIDERS
            .iter()
            .find(|(method, path, _, _, _)| *method == self.method.as_str() && *path == suffix)
            .map(|(_, _, revoked, guardian, dpo)| (*revoked, *guardian, *dpo))
            .unwrap_or_else(|| panic!("{}: a family route this test does not know; add what insiders get to INSIDERS", self.name()))
    }
}

/// Every operation of the document, split into family routes, the DPO's console and the others (which must be
/// [`NOT_FAMILY_DATA`]).
fn family_routes(document: &Value) -> (Vec<Route>, Vec<Route>) {
    let paths = document["paths"].as_object().expect("the document has paths");
    for skipped in NOT_FAMILY_DATA {
        assert!(paths.contains_key(*skipped), "{skipped} is skipped but no longer in the document: drop it from NOT_FAMILY_DATA");
    }
    let (mut routes, mut console) = (Vec::new(), Vec::new());
    for (path, item) in paths {
        let is_family = path == FAMILY_ROUTES || path.starts_with(&format!("{FAMILY_ROUTES}/"));
        let is_console = path == DPO_CONSOLE || path.starts_with(&format!("{DPO_CONSOLE}/"));
        assert!(is_family || is_console || NOT_FAMILY_DATA.contains(&path.as_str()), "{path} is neither a family route, the DPO's console nor a route known to hold no family data");
        if !is_family && !is_console {
            continue;
        }
        for (method, operation) in item.as_object().expect("a path item is an object") {
            let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else { continue };
            if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                let route = Route { method, path: path.clone(), operation: operation.clone() };
                if is_family { routes.push(route) } else { console.push(route) }
            }
        }
    }
    for (method, suffix, _, _, _) in INSIDERS {
        let known = routes.iter().any(|r| r.method.as_str() == *method && r.path == format!("{FAMILY_ROUTES}{suffix}"));
        assert!(known, "{method} {FAMILY_ROUTES}{suffix} is in INSIDERS but no longer in the document");
    }
    (routes, console)
}

/// The values a route's parameters and bodies are filled with: all about family A's adult child.
struct Fill {
    family: String,
    adult: String,
    /// A grade of the adult.
    record: String,
    /// The revoked service's grant, about the adult.
    grant: String,
    /// A OneRoster import's mapping: a pupil of the set is the adult.
    map: String,
}

impl Fill {
    fn path_value(&self, name: &str) -> &str {
        match name {
            "family" => &self.family,
            "child" => &self.adult,
            "doctype" => "edu.grades",
            "record" => &self.record,
            "grant" | "request" => &self.grant,
            "index" => "0",
            "format" => "csv",
            other => panic!("no fixture value for the path parameter `{other}`"),
        }
    }

    /// Query parameters: those the walk knows are sent (the adult for a prohibition's scope); a required one it
    /// does not know fails the test.
    fn query_value(&self, path: &str, name: &str) -> Option<&str> {
        match name {
            "name" => Some("gate.txt"),
            "old" => Some("1"),
            "new" => Some("2"),
            "child" => Some(&self.adult),
            "q" => Some("gate"),
            // The collection of a files import (another route's optional `doctype`, the search's, is left out).
            "doctype" if path.ends_with("/imports/files") => Some("edu.documents"),
            "map" => Some(&self.map),
            _ => None,
        }
    }

    fn url(&self, base: &str, route: &Route) -> String {
        let mut path = String::new();
        let mut rest = route.path.as_str();
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').expect("a closed path parameter") + open;
            path.push_str(&rest[..open]);
            path.push_str(self.path_value(&rest[open + 1..close]));
            rest = &rest[close + 1..];
        }
        path.push_str(rest);
        let mut query = Vec::new();
        for parameter in route.operation["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] != "query" {
                continue;
            }
            let name = parameter["name"].as_str().unwrap();
            match self.query_value(&route.path, name) {
                Some(value) => query.push(format!("{name}={value}")),
                None => assert!(parameter["required"] != true, "{}: no fixture value for the required query parameter `{name}`", route.name()),
            }
        }
        if query.is_empty() { format!("{base}{path}") } else { format!("{base}{path}?{}", query.join("&")) }
    }

    /// A minimal valid body for the route's request body, chosen by its schema; a body the walk does not know
    /// fails the test.
    fn body(&self, route: &Route) -> Option<(&'static str, Vec<u8>)> {
        let content = route.operation["requestBody"]["content"].as_object()?;
        for bytes in ["application/octet-stream", "application/zip", "multipart/form-data"] {
            if content.contains_key(bytes) {
                return Some((bytes, b"any bytes".to_vec()));
            }
        }
        let schema = &content.get("application/json").unwrap_or_else(|| panic!("{}: a body neither JSON nor bytes", route.name()))["schema"];
        let body = match schema["$ref"].as_str() {
            Some("#/components/schemas/NewMember") => json!({"role": "guardian", "name": "X"}),
            Some("#/components/schemas/NewProhibition") => json!({"doctype": "edu.grades", "child_id": self.adult}),
            None if schema["type"] == "object" => json!({"subject": "maths", "grade": 12}),
            // An import's input, bytes in a format (xAPI statements).
            None if schema["type"] == "array" => {
                json!({"actor": {"mbox": "mailto:x@example.org"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"}, "object": {"id": "http://example.org/a"}})
            }
            _ => panic!("{}: no fixture body for the schema {schema}", route.name()),
        };
        Some(("application/json", body.to_string().into_bytes()))
    }
}

/// A credential, as sent on the wire.
#[derive(Clone)]
enum Credential {
    /// A member's or a DPO's session cookie, and its CSRF token for state-changing methods.
    Session { cookie: String, csrf: String },
    /// An `Authorization` header as is.
    Authorization(String),
    None,
}

/// Signs a member in over HTTP: the session cookie and the CSRF token.
async fn session(http: &reqwest::Client, server: &Server, member: cartable_sdk::MemberId) -> Credential {
    let response = http.post(format!("{}/api/v1/session", server.url)).json(&json!({"member_id": member, "password": PASSWORD})).send().await.unwrap();
    assert_eq!(response.status(), 200, "sign-in");
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let info: Value = response.json().await.unwrap();
    Credential::Session { cookie, csrf: info["csrf_token"].as_str().unwrap().to_owned() }
}

/// Calls one route with one credential: its status and error code (`Unknown` for a success). Never a 5xx.
async fn call(http: &reqwest::Client, server: &Server, fill: &Fill, route: &Route, credential: &Credential) -> (u16, ErrorCode) {
    let mut request = http.request(route.method.clone(), fill.url(&server.url, route));
    match credential {
        Credential::Session { cookie, csrf } => {
            request = request.header("cookie", cookie);
            if route.method != Method::GET {
                request = request.header("x-csrf-token", csrf);
            }
        }
        Credential::Authorization(value) => request = request.header("authorization", value),
        Credential::None => {}
    }
    if let Some((content_type, body)) = fill.body(route) {
        request = request.header("content-type", content_type).body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    assert!(status < 500, "{}: {status}", route.name());
    let code = serde_json::from_slice::<ErrorResponse>(&bytes).map(|e| e.error.code).unwrap_or(ErrorCode::Unknown);
    (status, code)
}

/// The size of a family's ledger, as the operator's `ledger verify` finds it (reading it appends nothing).
fn ledger_size(server: &Server, family: &FamilyFixture) -> u64 {
    server.cli(&["ledger", "verify", "--family", &family.family.to_string()])["size"].as_u64().unwrap()
}

/// A family's ledger entries as the operator lists them (the listing itself is logged after them).
fn ledger(server: &Server, family: &FamilyFixture) -> Vec<Value> {
    server.cli(&["ledger", "list", "--family", &family.family.to_string()])["entries"].as_array().unwrap().clone()
}

/// The receipt of the entry at `index`.
fn entry(entries: &[Value], index: u64) -> &Value {
    &entries.iter().find(|e| e["index"] == index).unwrap_or_else(|| panic!("no entry {index}"))["receipt"]
}

/// How many of `caller`'s attempts on `family` the operator's audit counts.
fn refusals_counted(server: &Server, family: &FamilyFixture, caller: &str) -> u64 {
    let counted = server.cli(&["audit", "refusals"]);
    counted["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["family_id"] == family.family.to_string() && r["caller"] == caller)
        .map(|r| r["count"].as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_every_credential_that_must_not_reach_the_family() {
    for backend in backends() {
        within(300, "the walk of the routes", walk(backend)).await;
    }
}

async fn walk(backend: Backend) {
    let server = Server::start(backend).await;
    let http = reqwest::Client::new();
    let client = server.client();
    // Family A: a guardian and an adult child (19) with a grade; family B: a guardian and a minor with a grade.
    let a = FamilyFixture::create(&server, "Martin", 19, 1);
    let b = FamilyFixture::create(&server, "Lefebvre", 10, 1);
    server.cli_in(&["member", "set-password", "--family", &a.family.to_string(), "--member", &a.child.to_string()], Some(&format!("{PASSWORD}\n")));

    // A service of family B, with an active grant there.
    let b_service = client.service(client.register_service("Soutien B").await.unwrap());
    let pending = b_service.request_access(&b.request(&["edu.grades"], &["read", "list"])).await.unwrap();
    client.sign_in(b.guardian, PASSWORD).await.unwrap().approve(pending.request_id).await.unwrap();
    let b_access = b_service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();
    b_access.read_record(b.grades[0]).await.unwrap();

    // A service of family A whose grant about the adult (read, list, write of grades) the adult revoked.
    let credentials = client.register_service("Orientation").await.unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", credentials.service_id, credentials.secret));
    let revoked_service = client.service(credentials);
    let pending = revoked_service.request_access(&a.request(&["edu.grades"], &["read", "list", "write"])).await.unwrap();
    let adult = client.sign_in(a.child, PASSWORD).await.unwrap();
    adult.approve(pending.request_id).await.unwrap();
    let revoked_access = revoked_service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();
    revoked_access.read_record(a.grades[0]).await.unwrap();
    adult.revoke(revoked_access.request_id()).await.unwrap();

    let fill = Fill {
        family: a.family.to_string(),
        adult: a.child.to_string(),
        record: a.grades[0].to_string(),
        grant: revoked_access.request_id().to_string(),
        map: format!("pupil-1={}", a.child),
    };
    let document: Value = http.get(format!("{}/api/v1/openapi.json", server.url)).send().await.unwrap().json().await.unwrap();
    let (routes, console) = family_routes(&document);
    for route in &routes {
        route.insiders();
    }
    eprintln!("{} family routes and {} routes of the DPO's console walked", routes.len(), console.len());
    let dpo = appoint_dpo(&server, "Délégué de l'opérateur", None, "dpo-operateur").await;
    let dpo_credential = dpo_session(&http, &server, "dpo-operateur").await;

    // 1. Another family's guardian and service: 404 everywhere, counted apart, in neither family's ledger.
    let b_guardian = session(&http, &server, b.guardian).await;
    let b_token = Credential::Authorization(format!("Bearer {}", b_access.state().access_token));
    let (a_size, b_size) = (ledger_size(&server, &a), ledger_size(&server, &b));
    for (credential, caller) in [(&b_guardian, format!("member:{}", b.guardian)), (&b_token, format!("service:{}", b_service.id()))] {
        let counted = refusals_counted(&server, &a, &caller);
        for route in &routes {
            assert_eq!(call(&http, &server, &fill, route, credential).await, NOT_FOUND, "{caller} on {}", route.name());
        }
        assert_eq!(refusals_counted(&server, &a, &caller), counted + routes.len() as u64, "{caller}'s refusals are counted for the operator");
    }
    assert_eq!(ledger_size(&server, &a), a_size, "an outsider wrote to family A's ledger");
    assert_eq!(ledger_size(&server, &b), b_size, "an outsider's attempts went to its own family's ledger");

    // 4. No credential kind other than a member's session and a service's access token opens a family route: not
    //    a service's own secret (HTTP Basic), not a continuation handle, not a made-up bearer. A DPO has no
    //    credential over HTTP yet; the DPO leg is to be added with the DPO console issue.
    let other_kinds = [
        (Credential::None, ErrorCode::Unauthorized),
        (Credential::Authorization(format!("Basic {basic}")), ErrorCode::Unauthorized),
        (Credential::Authorization(format!("GNAP {}", revoked_access.state().continue_handle)), ErrorCode::InvalidToken),
        (Credential::Authorization(format!("Bearer {}", uuid::Uuid::new_v4().simple())), ErrorCode::InvalidToken),
    ];
    for (credential, code) in &other_kinds {
        for route in &routes {
            assert_eq!(call(&http, &server, &fill, route, credential).await, (401, *code), "{}", route.name());
        }
    }
    assert_eq!(ledger_size(&server, &a), a_size, "a call without a valid credential wrote to the ledger");

    // 5. The DPO's console answers a DPO's session only: every other credential, a member's session and a service's
    //    token among them, gets 401 and nothing is logged.
    let a_guardian = session(&http, &server, a.guardian).await;
    let member_and_service = [a_guardian.clone(), b_token.clone()];
    for credential in other_kinds.iter().map(|(c, _)| c).chain(&member_and_service) {
        for route in &console {
            assert_eq!(call(&http, &server, &fill, route, credential).await.0, 401, "{}", route.name());
        }
    }
    assert_eq!(ledger_size(&server, &a), a_size, "a call to the DPO's console without a DPO's session wrote to the ledger");

    // 3. The revoked service: refused everywhere, each refusal one `access_denied` entry of family A naming it.
    let token = Credential::Authorization(format!("Bearer {}", revoked_access.state().access_token));
    let actor = json!({"kind": "service", "id": revoked_service.id()});
    let mut expected = Vec::new();
    for route in &routes {
        let before = ledger_size(&server, &a);
        let (refused, _, _) = route.insiders();
        assert_eq!(call(&http, &server, &fill, route, &token).await, refused, "the revoked service on {}", route.name());
        assert_eq!(ledger_size(&server, &a), before + 1, "the revoked service on {}: one entry", route.name());
        expected.push((before, route.name(), refused));
    }
    let entries = ledger(&server, &a);
    for (index, route, refused) in &expected {
        let receipt = entry(&entries, *index);
        assert_eq!(receipt["event"], "access_denied", "{route}: {receipt}");
        assert_eq!(receipt["actor"], actor, "{route}: {receipt}");
        if *refused == REVOKED {
            assert_eq!(receipt["principal"], json!(a.child), "{route}: about the adult: {receipt}");
        }
    }
    assert_eq!(ledger_size(&server, &b), b_size);

    // 2. Family A's guardian: refused on the adult child's data, each refusal one `access_denied` entry about the
    //    adult naming the guardian; the family-level routes answer.
    let guardian = session(&http, &server, a.guardian).await;
    let actor = json!({"kind": "guardian", "id": a.guardian});
    let (mut expected, mut narrowed) = (Vec::new(), Vec::new());
    for route in &routes {
        let before = ledger_size(&server, &a);
        let (status, code) = call(&http, &server, &fill, route, &guardian).await;
        match route.insiders().1 {
            Guardian::AboutTheAdult => {
                assert_eq!((status, code), DENIED, "the guardian on {}", route.name());
                assert_eq!(ledger_size(&server, &a), before + 1, "the guardian on {}: one entry", route.name());
                expected.push((before, route.name()));
            }
            Guardian::FamilyLevel => assert!((200..300).contains(&status), "the guardian on {}: {status} {code:?}", route.name()),
            Guardian::NarrowedAway => {
                assert_eq!((status, code), DENIED, "the guardian on {}", route.name());
                assert_eq!(ledger_size(&server, &a), before + 1, "the guardian on {}: one entry", route.name());
                narrowed.push(before);
            }
        }
    }
    let entries = ledger(&server, &a);
    for (index, route) in &expected {
        let receipt = entry(&entries, *index);
        assert_eq!(receipt["event"], "access_denied", "{route}: {receipt}");
        assert_eq!(receipt["actor"], actor, "{route}: {receipt}");
        assert_eq!(receipt["principal"], json!(a.child), "{route}: about the adult: {receipt}");
    }
    for index in &narrowed {
        let receipt = entry(&entries, *index);
        assert_eq!((&receipt["event"], &receipt["actor"]), (&json!("access_allowed"), &actor), "the register's reading: {receipt}");
        assert!(receipt.get("principal").is_none(), "about no child: {receipt}");
    }
    // The guardian's own view of the ledger shows none of it, nor anything else about the adult.
    let visible = all_entries(&client.sign_in(a.guardian, PASSWORD).await.unwrap()).await;
    let adult_id = a.child.to_string();
    assert!(visible.iter().all(|e| e.receipt["principal"].as_str() != Some(adult_id.as_str())), "the guardian sees an entry about the adult");
    assert!(visible.iter().all(|e| e.receipt["actor"]["id"].as_str() != Some(adult_id.as_str())), "the guardian sees an entry the adult made");
    assert_eq!(ledger_size(&server, &b), b_size, "family A's calls went to family B's ledger");

    // 6. The operator's DPO: refused on the family's data, members and consent changes, each refusal one
    //    `access_denied` entry of family A naming the DPO; the register's reading routes answer, each one
    //    `access_allowed` entry naming the DPO.
    let actor = json!({"kind": "dpo", "id": dpo.dpo_id()});
    let mut expected = Vec::new();
    for route in &routes {
        let before = ledger_size(&server, &a);
        let (status, code) = call(&http, &server, &fill, route, &dpo_credential).await;
        let event = match route.insiders().2 {
            Dpo::Refused => {
                assert_eq!((status, code), DENIED, "the DPO on {}", route.name());
                "access_denied"
            }
            Dpo::ReadsTheRegister => {
                assert!((200..300).contains(&status), "the DPO on {}: {status} {code:?}", route.name());
                "access_allowed"
            }
        };
        // A proof hands out a checkpoint: the decision is the one entry either way.
        assert_eq!(ledger_size(&server, &a), before + 1, "the DPO on {}: one entry", route.name());
        expected.push((before, route.name(), event));
    }
    let entries = ledger(&server, &a);
    for (index, route, event) in &expected {
        let receipt = entry(&entries, *index);
        assert_eq!(receipt["event"], *event, "{route}: {receipt}");
        assert_eq!(receipt["actor"], actor, "{route}: {receipt}");
    }
    assert_eq!(ledger_size(&server, &b), b_size, "the DPO's calls on family A went to family B's ledger");
}

/// A DPO's session over HTTP: the cookie and the CSRF token.
async fn dpo_session(http: &reqwest::Client, server: &Server, login: &str) -> Credential {
    let response = http.post(format!("{}/api/v1/dpo/session", server.url)).json(&json!({"login": login, "password": PASSWORD})).send().await.unwrap();
    assert_eq!(response.status(), 200, "the DPO's sign-in");
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let info: Value = response.json().await.unwrap();
    Credential::Session { cookie, csrf: info["csrf_token"].as_str().unwrap().to_owned() }
}

/// Found by the walk: the grant routes refused a service before the gate decided, so another family's service got
/// 403 `denied` where every other route answers the outsiders' 404 (and the attempt was not counted), and a
/// service's attempt on its own family's grants was refused without a decision, so not in the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grant_routes_refuse_a_service_through_the_gate() {
    for backend in backends() {
        within(120, "a service on the grant routes", async {
            let server = Server::start(backend).await;
            let ours = FamilyFixture::create(&server, "Roux", 12, 1);
            let theirs = FamilyFixture::create(&server, "Blanc", 9, 0);
            let client = server.client();
            let service = client.service(client.register_service("Tutorat").await.unwrap());
            let pending = service.request_access(&ours.request(&["edu.grades"], &["read"])).await.unwrap();
            client.sign_in(ours.guardian, PASSWORD).await.unwrap().approve(pending.request_id).await.unwrap();
            let access = service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();
            let http = reqwest::Client::new();
            let bearer = format!("Bearer {}", access.state().access_token);
            let grant = access.request_id();

            // Another family's grant routes: 404, counted for the operator, nothing in that family's ledger.
            let caller = format!("service:{}", service.id());
            let their_size = ledger_size(&server, &theirs);
            let url = format!("{}/api/v1/families/{}/grants/{grant}/approve", server.url, theirs.family);
            let response = http.post(&url).header("authorization", &bearer).send().await.unwrap();
            assert_eq!(response.status(), 404);
            assert_eq!(refusals_counted(&server, &theirs, &caller), 1);
            assert_eq!(ledger_size(&server, &theirs), their_size);

            // Its own grant, in its own family: 403 `denied`, logged as a denied `manage`; the grant stays.
            let our_size = ledger_size(&server, &ours);
            let url = format!("{}/api/v1/families/{}/grants/{grant}", server.url, ours.family);
            let response = http.delete(&url).header("authorization", &bearer).send().await.unwrap();
            assert_eq!(response.status(), 403);
            assert_eq!(response.json::<ErrorResponse>().await.unwrap().error.code, ErrorCode::Denied);
            assert_eq!(ledger_size(&server, &ours), our_size + 1);
            let receipt = entry(&ledger(&server, &ours), our_size).clone();
            assert_eq!(receipt["event"], "access_denied", "{receipt}");
            assert_eq!(receipt["action"], "manage", "{receipt}");
            assert_eq!(receipt["actor"], json!({"kind": "service", "id": service.id()}), "{receipt}");
            access.read_record(ours.grades[0]).await.unwrap();
        })
        .await;
    }
}
