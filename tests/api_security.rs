//! What an attack on the running server found (issue 9), each tried again through the API as the attacker did:
//! a burst of sign-ins, a flood of sign-ins, a guardian reading an adult child's history, prohibitions across
//! majority, free text outliving erasure, the operator acting for a member, service registration, and the
//! ledger's `after` beyond the integers the database holds.

mod api_support;
mod cli_support;

use std::time::Duration;

use api_support::{Backend, FamilyFixture, PASSWORD, Server, all_entries, backends, contains, event, stored_bytes, within};
use cartable_sdk::{ErrorCode, SdkError};
use serde_json::json;

async fn sign_in_status(http: &reqwest::Client, server: &Server, member: &str, password: &str) -> u16 {
    http.post(format!("{}/api/v1/session", server.url))
        .json(&json!({"member_id": member, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_sign_ins_cannot_run_past_the_limit() {
    for backend in backends() {
        within(120, "the sign-in burst", async {
            // Password checks are not the bottleneck here: the limit per member is.
            let server = Server::start_with(backend, &[("CARTABLE_MAX_CONCURRENT_SIGN_INS", "64")]).await;
            let fx = FamilyFixture::create(&server, "Martin", 12, 0);
            let member = fx.guardian.to_string();
            let http = reqwest::Client::new();
            // 20 wrong passwords at once; while they are still being answered (a failure takes at least 400 ms), the
            // right one.
            let wrong: Vec<_> = (0..20)
                .map(|i| {
                    let (http, url, member) = (http.clone(), server.url.clone(), member.clone());
                    tokio::spawn(async move {
                        http.post(format!("{url}/api/v1/session"))
                            .json(&json!({"member_id": member, "password": format!("wrong password {i}")}))
                            .send()
                            .await
                            .unwrap()
                            .status()
                            .as_u16()
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(150)).await;
            let right = sign_in_status(&http, &server, &member, PASSWORD).await;
            let mut statuses = Vec::new();
            for w in wrong {
                statuses.push(w.await.unwrap());
            }
            assert_eq!(right, 429, "the right password after the limit is refused");
            let checked = statuses.iter().filter(|s| **s == 401).count();
            assert!(checked < 5, "at most the allowance reached the password check: {statuses:?}");
            assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
            // Locked: the right password still does not get in.
            assert_eq!(sign_in_status(&http, &server, &member, PASSWORD).await, 429);
        })
        .await;
    }
}

/// Peak resident memory of a process, in bytes (`VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches("kB").trim().parse().unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_sign_ins_takes_bounded_memory() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("skipped: no /proc to read the server's memory from");
        return;
    }
    within(180, "the sign-in flood", async {
        let server = Server::start_with(Backend::Sqlite, &[("CARTABLE_MAX_CONCURRENT_SIGN_INS", "2")]).await;
        let before = peak_rss(server.pid());
        let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        // 150 sign-ins at once with random member ids: unbounded, each would take an argon2 check (19 MiB).
        let flood: Vec<_> = (0..150)
            .map(|_| {
                let (http, url) = (http.clone(), server.url.clone());
                tokio::spawn(async move {
                    http.post(format!("{url}/api/v1/session"))
                        .json(&json!({"member_id": uuid::Uuid::now_v7().to_string(), "password": "guessing a password"}))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for f in flood {
            statuses.push(f.await.unwrap());
        }
        let busy = statuses.iter().filter(|s| **s == 503).count();
        assert!(busy > 0, "beyond the bound, sign-ins are answered busy at once: {statuses:?}");
        assert!(statuses.iter().all(|s| [401, 429, 503].contains(s)), "{statuses:?}");
        let grown = peak_rss(server.pid()).saturating_sub(before);
        // Two checks at a time take ~40 MiB; 150 unbounded would take ~2.8 GiB.
        assert!(grown < 400 * 1024 * 1024, "the server grew by {} MiB", grown / (1024 * 1024));
        // And the server still answers.
        let health = http.get(format!("{}/healthz", server.url)).send().await.unwrap();
        assert!(health.status().is_success());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardians_do_not_read_an_adult_childs_consent_history() {
    for backend in backends() {
        within(120, "the adult child's history", async {
            let server = Server::start(backend).await;
            let fx = FamilyFixture::create(&server, "Durand", 19, 1);
            let (minor, _) = fx.add_child(&server, 12);
            let f = fx.family.to_string();
            server.cli_in(&["member", "set-password", "--family", &f, "--member", &fx.child.to_string()], Some(&format!("{PASSWORD}\n")));
            let client = server.client();
            let service = client.service(client.register_service("Orientation").await.unwrap());
            let about_adult = service.request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap();
            let mut for_minor = fx.request(&["edu.grades"], &["read"]);
            for_minor.child_id = minor;
            service.request_access(&for_minor).await.unwrap();
            let adult = client.sign_in(fx.child, PASSWORD).await.unwrap();
            adult.approve(about_adult.request_id).await.unwrap();
            let access = service.wait_for_approval(&about_adult, Duration::from_secs(30)).await.unwrap();
            access.read_record(fx.grades[0]).await.unwrap();

            // The adult sees their request, approval and the service's read.
            let theirs = all_entries(&adult).await;
            let adult_id = fx.child.to_string();
            let about = |e: &cartable_sdk::LedgerEntry, who: &str| e.receipt["principal"].as_str() == Some(who);
            for wanted in ["request", "approve", "access_allowed"] {
                assert!(theirs.iter().any(|e| about(e, &adult_id) && event(e) == wanted), "{wanted} missing for the adult");
            }
            // The guardian sees the minor's request, and nothing about the adult: no request, approval or access,
            // and no entry the adult made.
            let guardian = client.sign_in(fx.guardian, PASSWORD).await.unwrap();
            let visible = all_entries(&guardian).await;
            assert!(visible.iter().any(|e| about(e, &minor.to_string()) && event(e) == "request"));
            assert!(!visible.iter().any(|e| about(e, &adult_id)), "{visible:?}");
            assert!(!visible.iter().any(|e| e.receipt["actor"]["id"].as_str() == Some(adult_id.as_str())), "{visible:?}");
            // Nor their proofs.
            let adults_entry = theirs.iter().find(|e| about(e, &adult_id)).unwrap();
            assert!(guardian.inclusion_proof(adults_entry.index).await.is_err());
            assert!(adult.inclusion_proof(adults_entry.index).await.is_ok());
            // Filters on the guardian's view do not bring them back either.
            let page = guardian.ledger(None, 1000).await.unwrap();
            assert!(page.entries.iter().all(|e| !about(e, &adult_id)));
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardians_prohibition_stops_at_majority_and_adults_set_and_lift_their_own() {
    for backend in backends() {
        within(120, "prohibitions and majority", async {
            let server = Server::start(backend).await;
            let fx = FamilyFixture::create(&server, "Petit", 19, 0);
            let (minor, _) = fx.add_child(&server, 13);
            let f = fx.family.to_string();
            server.cli_in(&["member", "set-password", "--family", &f, "--member", &fx.child.to_string()], Some(&format!("{PASSWORD}\n")));
            let adult_pai = server.cli_in(
                &["record", "put", "--family", &f, "--child", &fx.child.to_string(), "--doctype", "health.pai", "--body", "-"],
                Some(r#"{"plan": "PAI asthme"}"#),
            )["record_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            let client = server.client();
            let guardian = client.sign_in(fx.guardian, PASSWORD).await.unwrap();
            let adult = client.sign_in(fx.child, PASSWORD).await.unwrap();
            // The guardian never shares the minors' health data.
            let set = guardian.forbid("health.pai").await.unwrap();
            assert_eq!(set.doctypes, vec!["health.pai".to_owned()]);
            let service = client.service(client.register_service("Infirmerie").await.unwrap());
            let mut for_minor = fx.request(&["health.pai"], &["read"]);
            for_minor.child_id = minor;
            let err = service.request_access(&for_minor).await.unwrap_err();
            assert_eq!(err.code(), Some(ErrorCode::ForbiddenDoctype), "{err:?}");

            // It does not cover the adult: their own grant holds.
            let pending = service.request_access(&fx.request(&["health.pai"], &["read"])).await.unwrap();
            adult.approve(pending.request_id).await.unwrap();
            let access = service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();
            access.read_record(adult_pai).await.unwrap();

            // The adult sets their own: the service's next read is refused; the guardian cannot lift it.
            adult.forbid_own("health.pai", fx.child).await.unwrap();
            let err = access.read_record(adult_pai).await.unwrap_err();
            assert_eq!(err.code(), Some(ErrorCode::ForbiddenDoctype), "{err:?}");
            assert!(guardian.lift_prohibition("health.pai", Some(fx.child)).await.is_err());
            assert!(guardian.forbid_own("edu.grades", fx.child).await.is_err(), "a guardian cannot set an adult's own");
            // The adult cannot lift the family's, and lifts their own: the grant holds again.
            assert!(adult.lift_prohibition("health.pai", None).await.is_err());
            let lifted = adult.lift_prohibition("health.pai", Some(fx.child)).await.unwrap();
            assert_eq!(lifted.prohibitions.len(), 1, "the family's remains");
            access.read_record(adult_pai).await.unwrap();
            // The guardian lifts the family's; lifting what is not there is a 404.
            guardian.lift_prohibition("health.pai", None).await.unwrap();
            assert!(matches!(guardian.lift_prohibition("health.pai", None).await.unwrap_err(), SdkError::NotFound { .. }));
            service.request_access(&for_minor).await.unwrap();

            // Every change is in the ledger, and the log still reconciles with the prohibitions in force.
            let changes: Vec<_> = all_entries(&adult).await.into_iter().filter(|e| event(e) == "policy_change").collect();
            assert_eq!(changes.iter().map(|e| e.receipt["prohibition"].as_str().unwrap()).collect::<Vec<_>>(), ["set", "lifted"]);
            let verified = server.cli(&["ledger", "verify", "--family", &f]);
            assert!(verified["size"].as_u64().unwrap() > 0, "{verified}");
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purpose_is_sealed_and_unreadable_after_erasure() {
    for backend in backends() {
        within(120, "free text and erasure", async {
            let server = Server::start(backend).await;
            let fx = FamilyFixture::create(&server, "Durand", 9, 0);
            let client = server.client();
            let service = client.service(client.register_service("Cabinet").await.unwrap());
            let mut request = fx.request(&["edu.followup"], &["read", "write"]);
            request.purpose = "suivi orthophonie de Zoé Durand".to_owned();
            service.request_access(&request).await.unwrap();
            // The guardian reads the purpose, decrypted; the ledger holds only a digest.
            let guardian = client.sign_in(fx.guardian, PASSWORD).await.unwrap();
            assert_eq!(guardian.grants().await.unwrap()[0].purpose, request.purpose);
            let entries = all_entries(&guardian).await;
            let asked = entries.iter().find(|e| event(e) == "request").unwrap();
            assert!(asked.receipt["purpose_digest"].as_str().is_some_and(|d| d.len() == 64), "{}", asked.receipt);
            assert_eq!(asked.receipt["purposes"], json!([]));

            let words = ["orthophonie", "Zoé Durand"];
            assert_eq!(stored_text_with(&server, &words).await, 0, "the purpose is never stored in clear");
            server.cli(&["family", "delete", "--family", &fx.family.to_string(), "--yes"]);
            server.cli(&["key", "rotate"]);
            assert_eq!(stored_text_with(&server, &words).await, 0);
            if backend == Backend::Sqlite {
                for (file, bytes) in stored_bytes(&server.data) {
                    for word in words {
                        assert!(!contains(&bytes, word.as_bytes()), "`{word}` in {}", file.display());
                    }
                }
            }
        })
        .await;
    }
}

/// How many stored grant rows and ledger entries hold any of `words` in clear, read from the database as its
/// administrator would.
async fn stored_text_with(server: &Server, words: &[&str]) -> usize {
    use sqlx::Row as _;
    sqlx::any::install_default_drivers();
    let url = server.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", server.data.join("cartable.db").display()));
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let mut stored: Vec<Vec<u8>> = Vec::new();
    for row in sqlx::query("SELECT grant_json FROM grants").fetch_all(&pool).await.unwrap() {
        stored.push(row.get::<String, _>(0).into_bytes());
    }
    for row in sqlx::query("SELECT entry FROM ledger_entries").fetch_all(&pool).await.unwrap() {
        stored.push(row.get::<Vec<u8>, _>(0));
    }
    pool.close().await;
    stored.iter().filter(|bytes| words.iter().any(|w| contains(bytes, w.as_bytes()))).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_acting_for_a_member_is_named_in_the_ledger() {
    within(60, "operator for a member", async {
        let server = Server::start(Backend::Sqlite).await;
        let fx = FamilyFixture::create(&server, "Roux", 10, 0);
        let client = server.client();
        let service = client.service(client.register_service("Soutien").await.unwrap());
        let pending = service.request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap();
        let f = fx.family.to_string();
        server.cli(&["request", "approve", "--family", &f, "--request", &pending.request_id.to_string(), "--by", &fx.guardian.to_string()]);
        let entries = server.cli(&["ledger", "list", "--family", &f, "--event", "approve", "--json"]);
        let receipt = &entries["entries"][0]["receipt"];
        assert_eq!(receipt["actor"], json!({"kind": "operator_for", "id": fx.guardian.to_string()}), "{entries}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_limited_and_can_wait_for_the_operator() {
    within(90, "service registration", async {
        let server = Server::start_with(Backend::Sqlite, &[("CARTABLE_REGISTRATION", "operator-approved")]).await;
        let fx = FamilyFixture::create(&server, "Martin", 10, 0);
        let client = server.client();
        let credentials = client.register_service("Nouveau service").await.unwrap();
        let service = client.service(credentials.clone());
        let err = service.request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap_err();
        assert!(matches!(err, SdkError::Denied { .. }), "{err:?}");
        let pending = server.cli(&["service", "pending", "--json"]);
        assert_eq!(pending["services"][0]["service_id"], credentials.service_id.to_string());
        server.cli(&["service", "approve", "--service", &credentials.service_id.to_string()]);
        service.request_access(&fx.request(&["edu.grades"], &["read"])).await.unwrap();
        // Ten registrations an hour from one address, then 429.
        for _ in 1..10 {
            client.register_service("Encore un").await.unwrap();
        }
        let err = client.register_service("Un de trop").await.unwrap_err();
        assert!(matches!(err, SdkError::RateLimited { .. }), "{err:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_page_after_the_largest_index_is_empty() {
    within(60, "ledger after overflow", async {
        let server = Server::start(Backend::Sqlite).await;
        let fx = FamilyFixture::create(&server, "Martin", 10, 1);
        let client = server.client();
        let guardian = client.sign_in(fx.guardian, PASSWORD).await.unwrap();
        assert!(!guardian.ledger(None, 10).await.unwrap().entries.is_empty());
        for after in [u64::MAX, i64::MAX as u64 + 1, i64::MAX as u64] {
            assert!(guardian.ledger(Some(after), 10).await.unwrap().entries.is_empty(), "after {after}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successful_sign_ins_do_not_use_up_an_addresss_allowance() {
    within(120, "many sign-ins from one address", async {
        // Everyone behind one proxy or school network shares an address: only failures may count against it.
        let server = Server::start(Backend::Sqlite).await;
        let fx = FamilyFixture::create(&server, "Martin", 12, 0);
        let http = reqwest::Client::new();
        for i in 0..55 {
            assert_eq!(sign_in_status(&http, &server, &fx.guardian.to_string(), PASSWORD).await, 200, "sign-in {i}");
        }
    })
    .await;
}
