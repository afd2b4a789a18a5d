//! Bad input at the edges, through the real server: a member signing in over and over keeps a bounded number of
//! sessions; a service asking a family again and again is stopped at ten waiting requests; a flood of long polls
//! takes bounded memory while others are answered; bodies cut short change nothing. (Slow heads and stalled bodies
//! are in `tests/api_hardening.rs`, floods of sign-ins and registrations in `tests/api_security.rs`.)

mod api_support;
mod cli_support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use api_support::{Backend, FamilyFixture, PASSWORD, Server, backends, within};
use cartable_sdk::SdkError;
use sqlx::Row;

/// Peak resident memory of a process, in bytes (`VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches("kB").trim().parse().unwrap();
    kib * 1024
}

async fn count(server: &Server, sql: &str, id: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).bind(id.to_owned()).fetch_one(&server.database().await).await.unwrap().get(0)
}

/// A guardian's session cookie and CSRF token, signed in over HTTP, for requests written by hand.
async fn raw_sign_in(server: &Server, fx: &FamilyFixture) -> (String, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/session", server.url))
        .json(&serde_json::json!({"member_id": fx.guardian, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.split(';').next()?.trim().strip_prefix("cartable_session=").map(str::to_owned))
        .expect("a session cookie");
    let body: serde_json::Value = response.json().await.unwrap();
    (cookie, body["csrf_token"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_signing_in_again_and_again_keeps_twenty_sessions() {
    for backend in backends() {
        within(180, "many sign-ins", async {
            let server = Server::start(backend).await;
            let fx = FamilyFixture::create(&server, "Martin", 12, 0);
            let client = server.client();
            let first = client.sign_in(fx.guardian, PASSWORD).await.unwrap();
            let mut last = None;
            for _ in 0..29 {
                last = Some(client.sign_in(fx.guardian, PASSWORD).await.unwrap());
            }
            let sessions = count(&server, "SELECT COUNT(*) FROM api_sessions WHERE member_id = $1", &fx.guardian.to_string()).await;
            assert_eq!(sessions, 20, "{backend:?}: thirty sign-ins keep the twenty newest sessions");
            // The oldest has ended; the newest works.
            let err = first.family().await.unwrap_err();
            assert!(matches!(err, SdkError::Unauthorized { .. }), "{backend:?}: {err:?}");
            last.unwrap().family().await.unwrap();
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_asking_again_and_again_is_stopped_at_ten_waiting_requests() {
    for backend in backends() {
        within(180, "many requests", async {
            let server = Server::start(backend).await;
            let fx = FamilyFixture::create(&server, "Martin", 12, 0);
            let other = FamilyFixture::create(&server, "Petit", 9, 0);
            let f = fx.family.to_string();
            let client = server.client();
            let service = client.service(client.register_service("Relances").await.unwrap());
            let size = |server: &Server| server.cli(&["ledger", "verify", "--family", &f])["size"].as_u64().unwrap();
            let before = size(&server);
            let mut pending = Vec::new();
            for _ in 0..10 {
                pending.push(service.request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap());
            }
            let err = service.request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap_err();
            assert!(matches!(err, SdkError::RateLimited { .. }), "{backend:?}: {err:?}");
            assert_eq!(size(&server), before + 10, "{backend:?}: the refused request left no entry");
            let waiting = count(&server, "SELECT COUNT(*) FROM grants WHERE family_id = $1 AND state = 'requested'", &f).await;
            assert_eq!(waiting, 10, "{backend:?}");
            // Another family is asked as before; an answer makes room for one more.
            service.request_access(&other.request(&["edu.grades"], &["read"])).await.unwrap();
            client.sign_in(fx.guardian, PASSWORD).await.unwrap().deny(pending[0].request_id).await.unwrap();
            service.request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap();
            let err = service.request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap_err();
            assert!(matches!(err, SdkError::RateLimited { .. }), "{backend:?}: {err:?}");
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_long_polls_takes_bounded_memory_while_others_are_answered() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("skipped: no /proc to read the server's memory from");
        return;
    }
    within(180, "the long-poll flood", async {
        let server = Server::start(Backend::Sqlite).await;
        let fx = FamilyFixture::create(&server, "Martin", 12, 2);
        let client = server.client();
        let service = client.service(client.register_service("Patient").await.unwrap());
        let mut pending = Vec::new();
        for _ in 0..10 {
            pending.push(service.request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap());
        }
        // Another service with a grant, reading while the polls wait.
        let reader = client.service(client.register_service("Lecteur").await.unwrap());
        let asked = reader.request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap();
        let guardian = client.sign_in(fx.guardian, PASSWORD).await.unwrap();
        guardian.approve(asked.request_id).await.unwrap();
        let access = reader.wait_for_approval(&asked, Duration::from_secs(30)).await.unwrap();

        let before = peak_rss(server.pid());
        let polls: Vec<_> = (0..300)
            .map(|i| {
                let (service, pending) = (service.clone(), pending[i % pending.len()].clone());
                tokio::spawn(async move { service.poll(&pending, Duration::from_secs(25)).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(2)).await;
        // While 300 polls wait, the server answers others: health, an authorized read, a guardian's page.
        for _ in 0..5 {
            let started = Instant::now();
            reqwest::get(format!("{}/healthz", server.url)).await.unwrap().error_for_status().unwrap();
            access.read_record(fx.grades[0]).await.unwrap();
            guardian.grants().await.unwrap();
            assert!(started.elapsed() < Duration::from_secs(10), "others waited {:?} behind the polls", started.elapsed());
        }
        // An answer ends the polls on its request at once; the others are still waiting.
        guardian.approve(pending[0].request_id).await.unwrap();
        let mut answered = 0;
        for (i, poll) in polls.into_iter().enumerate() {
            if i % pending.len() == 0 {
                let response = poll.await.unwrap().unwrap();
                assert!(response.access_token.is_some(), "an approved request's poll gets its token: {response:?}");
                answered += 1;
            } else {
                poll.abort();
            }
        }
        assert_eq!(answered, 30);
        let grown = peak_rss(server.pid()).saturating_sub(before);
        assert!(grown < 64 * 1024 * 1024, "300 long polls grew the server by {} MiB", grown / (1024 * 1024));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_cut_short_change_nothing() {
    for backend in backends() {
        within(120, "cut bodies", async {
            let server = Server::start(backend).await;
            let fx = FamilyFixture::create(&server, "Martin", 12, 1);
            let guardian = server.client().sign_in(fx.guardian, PASSWORD).await.unwrap();
            let before = guardian.list_records(fx.child, "edu.grades", None, 100).await.unwrap().records.len();
            let address = server.url.trim_start_matches("http://").to_owned();
            let path = format!("/api/v1/families/{}/children/{}/collections/edu.grades/records", fx.family, fx.child);
            let upload = format!("/api/v1/families/{}/children/{}/collections/edu.report-cards/files?name=b.pdf", fx.family, fx.child);
            let (cookie, csrf) = raw_sign_in(&server, &fx).await;
            for (target, kind, declared, sent) in [
                (&path, "application/json", 1000, br#"{"subject": "maths", "gra"#.to_vec()),
                (&path, "application/json", 30, br#"{"subject": "maths"}"#.to_vec()),
                (&upload, "application/octet-stream", 500_000, vec![b'%'; 100_000]),
            ] {
                let mut stream = std::net::TcpStream::connect(&address).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                let head = format!(
                    "POST {target} HTTP/1.1\r\nHost: {address}\r\nCookie: cartable_session={cookie}\r\nX-CSRF-Token: {csrf}\r\n\
                     Content-Type: {kind}\r\nContent-Length: {declared}\r\n\r\n"
                );
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(&sent).unwrap();
                stream.shutdown(std::net::Shutdown::Write).unwrap();
                // The server answers an error or closes; it never acknowledges a cut body.
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer);
                let answer = String::from_utf8_lossy(&answer);
                assert!(!answer.starts_with("HTTP/1.1 2"), "{backend:?}: a cut body was accepted: {answer}");
            }
            let after = guardian.list_records(fx.child, "edu.grades", None, 100).await.unwrap().records.len();
            assert_eq!(after, before, "{backend:?}: nothing was written");
            let files = guardian.collections().await.unwrap().iter().filter(|c| c.doctype == "edu.report-cards").count();
            assert_eq!(files, 0, "{backend:?}: no file was stored");
            reqwest::get(format!("{}/healthz", server.url)).await.unwrap().error_for_status().unwrap();
        })
        .await;
    }
}
