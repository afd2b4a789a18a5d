//! The API fuzzed from its own OpenAPI document: Schemathesis (`CARTABLE_TEST_SCHEMATHESIS`, the path of its command,
//! installed by `scripts/test.sh`) runs against a live server on every operation, three times: with a service's
//! access token (an active grant on a child's grades), with a guardian's session and its CSRF token, and with no
//! credentials. Its checks: no 5xx response, every status and content type documented, every body matching its
//! documented schema. After each run the server must still answer, and its log must hold no panic.
//!
//! The path parameters are the fixture's own (the family, its child, a grade, the grant), so the operations are
//! reached past the gate; the gate itself is walked by `tests/api_gate.rs`. Each run is bounded by
//! `CARTABLE_SCHEMATHESIS_SECONDS` (default 30); `scripts/api-fuzz.sh SECONDS` runs it longer.

mod api_support;
mod cli_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use api_support::{Backend, FamilyFixture, PASSWORD, Server, backends, within};
use serde_json::{Value, json};

/// The checks the issue asks for: no server error, and every response as documented.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_undocumented_response() {
    let Some(schemathesis) = std::env::var("CARTABLE_TEST_SCHEMATHESIS").ok().filter(|s| !s.is_empty()) else {
        eprintln!("API fuzzing skipped: CARTABLE_TEST_SCHEMATHESIS is not set (scripts/test.sh installs Schemathesis and sets it)");
        return;
    };
    let seconds: u64 = std::env::var("CARTABLE_SCHEMATHESIS_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    for backend in backends() {
        within(120 + 4 * seconds, "the fuzzing runs", fuzz_one_backend(backend, &schemathesis, seconds)).await;
    }
}

async fn fuzz_one_backend(backend: Backend, schemathesis: &str, seconds: u64) {
    let server = Server::start(backend).await;
    let fixture = FamilyFixture::create(&server, "Fuzz", 12, 3);
    let client = server.client();
    let service = client.service(client.register_service("Soutien scolaire").await.unwrap());
    let pending = service.request_access(&fixture.request(&["edu.grades", "edu.activity"], &["read", "write"])).await.unwrap();
    client.sign_in(fixture.guardian, PASSWORD).await.unwrap().approve(pending.request_id).await.unwrap();
    let access = service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();
    let token = access.state().access_token;
    let (cookie, csrf) = sign_in(&server, &fixture).await;

    let parameters = json!({
        "path.family": fixture.family.to_string(),
        "path.child": fixture.child.to_string(),
        "path.record": fixture.grades[0].to_string(),
        "path.grant": access.request_id().to_string(),
        "path.request": access.request_id().to_string(),
        "path.member": fixture.child.to_string(),
    });
    // The guardian's run leaves out signing in and out: a sign-out early in the run would leave the rest of it
    // without a session (the no-credentials run covers both routes).
    let runs: [(&str, Vec<(&str, String)>); 3] = [
        ("service", vec![("Authorization", format!("Bearer {token}"))]),
        ("guardian", vec![("Cookie", format!("cartable_session={cookie}")), ("X-CSRF-Token", csrf)]),
        ("none", vec![]),
    ];
    let mut failures = Vec::new();
    for (who, headers) in &runs {
        let report = run_schemathesis(&server, backend, schemathesis, seconds, who, headers, &parameters);
        let health = reqwest::get(format!("{}/healthz", server.url)).await.expect("the server still answers");
        assert!(health.status().is_success(), "{backend:?}, {who}: the server stopped serving after the run");
        if let Err(failure) = report {
            failures.push(format!("{backend:?}, {who}: {failure}"));
        }
    }
    let log = server.log_text();
    let logs = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis").join(format!("{backend:?}-server.log"));
    std::fs::write(&logs, &log).unwrap();
    assert!(!log.contains("panicked"), "{backend:?}: the server panicked under fuzzing:\n{log}");
    assert!(failures.is_empty(), "Schemathesis found failures:\n{}", failures.join("\n\n"));
}

/// The guardian's session cookie and CSRF token, signed in over HTTP as a browser would.
async fn sign_in(server: &Server, fixture: &FamilyFixture) -> (String, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/session", server.url))
        .json(&json!({"member_id": fixture.guardian, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "sign-in: {}", response.status());
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.split(';').next()?.trim().strip_prefix("cartable_session=").map(str::to_owned))
        .expect("a session cookie");
    let body: Value = response.json().await.unwrap();
    (cookie, body["csrf_token"].as_str().expect("a CSRF token").to_owned())
}

/// One bounded Schemathesis run with these headers; its summary printed, its failures returned.
fn run_schemathesis(server: &Server, backend: Backend, schemathesis: &str, seconds: u64, who: &str, headers: &[(&str, String)], parameters: &Value) -> Result<(), String> {
    // Kept after the test (target/tmp/schemathesis/…): the JUnit report names every failure with its request.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis").join(format!("{backend:?}-{who}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("schemathesis.toml");
    std::fs::write(&config, config_toml(headers, parameters)).unwrap();
    let output = Command::new(schemathesis)
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{}/api/v1/openapi.json", server.url), "--url", &server.url])
        .args(["--checks", CHECKS, "--max-time", &seconds.to_string()])
        // One worker: with two, Hypothesis parses the source of its filters in two threads at once, which CPython
        // 3.11 now and then fails ("SystemError: AST constructor recursion depth mismatch"), ending the run.
        .args(["--workers", "1"])
        // Longer than the longest answer the API may take on purpose (a long poll waits up to 30 s).
        .args(["--request-timeout", "75"])
        .args(["--seed", &seed().to_string(), "--suppress-health-check", "all", "--no-color"])
        .args(if who == "guardian" { &["--exclude-path-regex", "^/api/v1/(dpo/)?session$"][..] } else { &[] })
        .arg("--report")
        .arg("junit")
        .arg("--report-dir")
        .arg(&dir)
        .current_dir(&dir)
        .env("SCHEMATHESIS_HOOKS", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api_fuzz_hooks.py"))
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("--- Schemathesis, {backend:?}, {who} ---\n{}", summary(&stdout));
    std::fs::write(dir.join("output.txt"), stdout.as_bytes()).unwrap();
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("exit {:?}, whole output in {}\n{}", output.status.code(), dir.join("output.txt").display(), String::from_utf8_lossy(&output.stderr)))
    }
}

/// The run's configuration: the credentials as headers, and the fixture's ids for the path parameters.
fn config_toml(headers: &[(&str, String)], parameters: &Value) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap();
    let mut toml = String::from("[headers]\n");
    for (name, value) in headers {
        toml += &format!("{} = {}\n", quote(name), quote(value));
    }
    toml += "\n[parameters]\n";
    for (name, value) in parameters.as_object().unwrap() {
        toml += &format!("{} = {}\n", quote(name), quote(value.as_str().unwrap()));
    }
    toml += "\n[generation]\nallow-x00 = true\n";
    toml
}

/// A seed for the run, printed so that a failure can be replayed (`CARTABLE_SCHEMATHESIS_SEED`).
fn seed() -> u64 {
    std::env::var("CARTABLE_SCHEMATHESIS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        println!("Schemathesis seed {seed} (CARTABLE_SCHEMATHESIS_SEED replays it)");
        seed
    })
}

/// The end of Schemathesis's output: the errors and failures it found (each with its operation and request), then
/// the summary (the operations covered, the requests sent).
fn summary(stdout: &str) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    let heading = |name: &str| lines.iter().position(|l| l.starts_with('=') && l.contains(&format!(" {name} ")));
    let summary = heading("SUMMARY").unwrap_or(lines.len().saturating_sub(30));
    let from = heading("ERRORS").or(heading("FAILURES")).unwrap_or(summary).min(summary);
    lines[from..].join("\n")
}
