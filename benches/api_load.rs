//! Load on the real server with a real HTTP load generator (`wrk`): authorized reads under a grant, each decided
//! by Cedar and durably written to the family's ledger before it is answered, next to the unauthenticated health
//! endpoint of the same server in the same run.
//!
//! ```sh
//! cargo bench -p cartable --bench api_load
//! ```
//!
//! Then the same reads through two servers on the one vault at once, next to one.
//!
//! `CARTABLE_BENCH_SECONDS` (10) and `CARTABLE_BENCH_CONNECTIONS` (16) tune the runs, `CARTABLE_BENCH_LOG` is the
//! servers' `CARTABLE_LOG` (`warn`; `cartable_vault::ledger=trace` shows each ledger batch's size, time and wait for
//! its turn); `CARTABLE_BENCH_DATABASE_URL` runs the server on that (empty) PostgreSQL database instead of SQLite. Without `wrk` (Debian package `wrk`),
//! the bench installs it when it can (root with apt-get) and otherwise says why it is skipped.

use std::process::{Command, Stdio};
use std::time::Duration;

use cartable_sdk::{Client, NewAccessRequest};

mod support;
use support::{cartable, start_server};

const PASSWORD: &str = "correct horse battery staple";

fn have_wrk() -> bool {
    Command::new("wrk").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

fn ensure_wrk() -> bool {
    if have_wrk() {
        return true;
    }
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    if root && Command::new("apt-get").arg("--version").stdout(Stdio::null()).status().is_ok() {
        eprintln!("installing wrk (Debian package)…");
        let _ = Command::new("apt-get").args(["install", "-y", "-qq", "wrk"]).env("DEBIAN_FRONTEND", "noninteractive").status();
    }
    have_wrk()
}

/// What wrk measured: requests, seconds, p50, p99 and p99.9 in microseconds, non-2xx answers and socket errors.
#[derive(Debug)]
struct Run {
    requests: u64,
    seconds: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    bad_status: u64,
    socket_errors: u64,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

fn wrk(url: &str, header: Option<&str>, seconds: u64, connections: u64, dir: &std::path::Path) -> Run {
    let script = dir.join(format!("bench-{}.lua", header.is_some()));
    let mut lua = String::new();
    if let Some(h) = header {
        lua.push_str(&format!("wrk.headers[\"Authorization\"] = \"{h}\"\n"));
    }
    lua.push_str(
        "done = function(summary, latency, requests)\n\
         local e = summary.errors\n\
         io.write(string.format(\"RESULT %d %d %f %f %f %d %d\\n\", summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency:percentile(99.9), e.status, e.connect + e.read + e.write + e.timeout))\n\
         end\n",
    );
    std::fs::write(&script, lua).unwrap();
    let out = Command::new("wrk")
        .args(["-t", "2", "-c", &connections.to_string(), "-d", &format!("{seconds}s"), "--timeout", "5s", "-s"])
        .arg(&script)
        .arg(url)
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix("RESULT ")).unwrap_or_else(|| panic!("wrk said: {text}"));
    let f: Vec<f64> = line.split_whitespace().map(|x| x.parse().unwrap()).collect();
    Run { requests: f[0] as u64, seconds: f[1] / 1e6, p50_us: f[2], p99_us: f[3], p999_us: f[4], bad_status: f[5] as u64, socket_errors: f[6] as u64 }
}

fn print(name: &str, run: &Run) {
    println!(
        "{name:<34} {:>9.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   p99.9 {:>7.2} ms   ({} requests, {} non-2xx, {} socket errors)",
        run.per_second(),
        run.p50_us / 1000.0,
        run.p99_us / 1000.0,
        run.p999_us / 1000.0,
        run.requests,
        run.bad_status,
        run.socket_errors
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("api_load: bench");
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it: do not load the
    // machine for 20 seconds there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("api_load: run it with `cargo bench -p cartable --bench api_load`");
        return;
    }
    if !ensure_wrk() {
        println!("api_load: skipped: `wrk` is not installed and cannot be installed here (Debian package `wrk`)");
        return;
    }
    let seconds: u64 = std::env::var("CARTABLE_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let connections: u64 = std::env::var("CARTABLE_BENCH_CONNECTIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(16);
    let database = std::env::var("CARTABLE_BENCH_DATABASE_URL").ok().filter(|s| !s.is_empty());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let db = database.as_deref();

    // One family, one child, a few grades, a guardian with a password.
    let family = cartable(&data, db, &["family", "create", "--name", "Bench"], None)["family_id"].as_str().unwrap().to_owned();
    let guardian = cartable(&data, db, &["member", "add", "--family", &family, "--role", "guardian", "--name", "Claire"], None)["member_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let child = cartable(&data, db, &["member", "add", "--family", &family, "--role", "child", "--name", "Léa", "--birth-date", "2014-05-02"], None)
        ["member_id"]
        .as_str()
        .unwrap()
        .to_owned();
    cartable(&data, db, &["member", "set-password", "--family", &family, "--member", &guardian], Some(&format!("{PASSWORD}\n")));
    let record = cartable(
        &data,
        db,
        &["record", "put", "--family", &family, "--child", &child, "--doctype", "edu.grades", "--body", "-"],
        Some(r#"{"subject": "mathématiques", "grade": 15.5, "comment": "bon trimestre"}"#),
    )["record_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (server, base) = start_server(&data, db);

    // A tutoring service gets a grant through the SDK and the family API.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (token, vault_size_before) = runtime.block_on(async {
        let client = Client::new(&base).unwrap();
        let service = client.service(client.register_service("Bench tutoring").await.unwrap());
        let request = NewAccessRequest {
            family_id: family.parse().unwrap(),
            child_id: child.parse().unwrap(),
            doctypes: vec!["edu.grades".into()],
            actions: vec!["read".into()],
            purpose: "benchmark".into(),
            legal_basis: "consent".into(),
            duration_days: 1,
        };
        let pending = service.request_access(&request).await.unwrap();
        let session = client.sign_in(guardian.parse().unwrap(), PASSWORD).await.unwrap();
        session.approve(pending.request_id).await.unwrap();
        let access = service.wait_for_approval(&pending, Duration::from_secs(30)).await.unwrap();
        let size = session.checkpoint().await.unwrap().size;
        (access.state().access_token, size)
    });

    println!("api_load: {connections} connections, {seconds} s per run, wrk and the server on the same machine ({} cores)", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    println!("backend: {}", if db.is_some() { "PostgreSQL" } else { "SQLite (WAL, synchronous=FULL)" });
    let health = wrk(&format!("{base}/healthz"), None, seconds, connections, tmp.path());
    let reads = wrk(&format!("{base}/api/v1/families/{family}/records/{record}"), Some(&format!("Bearer {token}")), seconds, connections, tmp.path());
    print("GET /healthz (no auth, no I/O)", &health);
    print("GET record (Cedar + ledger append)", &reads);
    println!("ratio authorized reads / health: {:.3}", reads.per_second() / health.per_second());

    // Every read was logged: the ledger grew by at least as many entries as wrk counted answers.
    let vault_size_after = runtime.block_on(async {
        let session = Client::new(&base).unwrap().sign_in(guardian.parse().unwrap(), PASSWORD).await.unwrap();
        session.checkpoint().await.unwrap().size
    });
    let grown = vault_size_after - vault_size_before;
    println!("ledger: {grown} entries appended during the read run ({} reads answered; 1 more entry is the checkpoint request itself)", reads.requests);
    if reads.bad_status > 0 || grown < reads.requests {
        println!("WARNING: {} reads were refused or failed; the figures above are not all authorized reads", reads.bad_status);
    }

    // The same reads through two servers on the one vault (database, blobs, keys), half the connections each, at
    // once: what a second machine behind a load balancer would add (here both share these cores).
    let (second, other) = start_server(&data, db);
    let path = format!("/api/v1/families/{family}/records/{record}");
    let half = (connections / 2).max(1);
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let bearer = format!("Bearer {token}");
        let jobs: Vec<_> = [base.clone(), other.clone()]
            .into_iter()
            .enumerate()
            .map(|(n, server)| {
                let (url, bearer, dir) = (format!("{server}{path}"), bearer.clone(), tmp.path().join(format!("two-{n}")));
                std::fs::create_dir_all(&dir).unwrap();
                scope.spawn(move || wrk(&url, Some(&bearer), seconds, half, &dir))
            })
            .collect();
        jobs.into_iter().map(|j| j.join().unwrap()).collect()
    });
    let two: f64 = runs.iter().map(Run::per_second).sum();
    print("GET record through server A (of 2)", &runs[0]);
    print("GET record through server B (of 2)", &runs[1]);
    println!("two servers: {two:.0} req/s together vs one: {:.0} req/s; ratio {:.2} (on one machine: they share its cores)", reads.per_second(), two / reads.per_second());
    if runs.iter().any(|r| r.bad_status > 0) {
        println!("WARNING: reads through two servers were refused or failed");
    }
    drop(second);
    drop(server);
}
