//! A tutoring service's whole life with one family's data, against a running Cartable server.
//!
//! ```sh
//! cargo run -p cartable-sdk --features client --example tutoring -- http://127.0.0.1:8080 FAMILY_ID CHILD_ID
//! ```
//!
//! The service registers, asks the family for the child's grades and homework, and waits. It cannot approve its
//! own request: a guardian does, with the CLI (the command is printed) or through the family API. For a demo on
//! one's own machine, give a guardian's member id with `--guardian ID` and the password in the environment
//! variable `CARTABLE_GUARDIAN_PASSWORD`: the example then signs the guardian in, approves, and at the end
//! revokes, to show what the service sees after a revocation.
//!
//! It works in sealed mode, the SDK's way for a service: its instance has an MLS identity whose state is kept in
//! `--state PATH` (default `tutoring-instance.mls`, encrypted under the 32-byte key in `PATH.key`, made at the first
//! run; a real service keeps that key in its secret store), every response under the grant is encrypted to the
//! grant's group and opened by the SDK, and a copied token reads nothing. `--plain` runs it without MLS.

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use cartable_sdk::{Client, FamilyId, Instance, MemberId, NewAccessRequest, SdkError};

struct Args {
    url: String,
    family: FamilyId,
    child: MemberId,
    guardian: Option<MemberId>,
    /// Sealed mode's state file; `None` with `--plain`.
    state: Option<std::path::PathBuf>,
}

fn args() -> anyhow::Result<Args> {
    let mut positional = Vec::new();
    let mut guardian = None;
    let mut state = Some(std::path::PathBuf::from("tutoring-instance.mls"));
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--guardian" => guardian = Some(it.next().context("--guardian needs a member id")?.parse()?),
            "--state" => state = Some(it.next().context("--state needs a path")?.into()),
            "--plain" => state = None,
            "-h" | "--help" => {
                println!("usage: tutoring SERVER_URL FAMILY_ID CHILD_ID [--guardian MEMBER_ID] [--state PATH | --plain]  (password in CARTABLE_GUARDIAN_PASSWORD)");
                std::process::exit(0);
            }
            _ => positional.push(arg),
        }
    }
    let [url, family, child] = <[String; 3]>::try_from(positional).map_err(|_| anyhow::anyhow!("usage: tutoring SERVER_URL FAMILY_ID CHILD_ID [--guardian MEMBER_ID]"))?;
    Ok(Args { url, family: family.parse()?, child: child.parse()?, guardian, state })
}

/// The instance's key, beside its state: read, or made (from the OS's random source, through UUID v4s) and kept
/// owner-only at the first run.
fn instance_key(state: &std::path::Path) -> anyhow::Result<[u8; 32]> {
    let path = state.with_extension("key");
    if let Ok(bytes) = std::fs::read(&path) {
        return <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| anyhow::anyhow!("{} is not a 32-byte key", path.display()));
    }
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path)?, &key)?;
    Ok(key)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let client = Client::new(&args.url)?;

    // 1. Register. The secret is shown once: a real service stores it in its secret store.
    let credentials = client.register_service("Tutorat Plus (exemple)").await?;
    println!("registered as service {}", credentials.service_id);
    let service = match &args.state {
        Some(state) => {
            // Each run registers a new service: a fresh state file for it.
            let state = state.with_file_name(format!("{}-{}", credentials.service_id, state.file_name().and_then(|n| n.to_str()).unwrap_or("instance.mls")));
            let instance = Instance::open(credentials.service_id, "tutoring-1", &state, instance_key(&state)?)?;
            println!("sealed mode: instance `{}`, its MLS state in {}", instance.name(), state.display());
            client.service(credentials).with_instance(instance).await?
        }
        None => {
            println!("plain mode: responses travel in the clear (inside TLS)");
            client.service(credentials)
        }
    };

    // 2. Ask the family: the child's grades and homework, to read, list and write, for 30 days.
    let pending = service
        .request_access(&NewAccessRequest {
            family_id: args.family,
            child_id: args.child,
            doctypes: vec!["edu.grades".into(), "edu.homework".into()],
            actions: vec!["read".into(), "list".into(), "write".into()],
            purpose: "soutien scolaire en mathématiques".into(),
            legal_basis: "consent".into(),
            duration_days: 30,
        })
        .await?;
    println!("access requested: {}", pending.request_id);

    // 3. A guardian decides.
    let guardian = match (args.guardian, std::env::var("CARTABLE_GUARDIAN_PASSWORD")) {
        (Some(id), Ok(password)) => {
            let session = client.sign_in(id, &password).await.context("the guardian could not sign in")?;
            let outcome = session.approve(pending.request_id).await?;
            println!("guardian {id} approved: the grant is {}{}", outcome.state, missing(&outcome.missing));
            Some(session)
        }
        (Some(_), Err(_)) => bail!("--guardian needs the password in CARTABLE_GUARDIAN_PASSWORD"),
        (None, _) => {
            println!("waiting for the family's decision; a guardian approves with:");
            println!("  cartable request approve --family {} --request {} --by GUARDIAN_ID", args.family, pending.request_id);
            println!("or through the API: POST /api/v1/families/{}/grants/{}/approve (signed in)", args.family, pending.request_id);
            None
        }
    };

    // 4. Long-poll until approved (or denied).
    let access = match service.wait_for_approval(&pending, Duration::from_secs(600)).await {
        Ok(access) => access,
        Err(SdkError::Denied { .. }) => {
            println!("the family denied the request: nothing more to do");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    println!("approved: working under grant {} (access token valid until {})", access.request_id(), access.state().token_expires_at);
    if let Some(instance) = service.instance() {
        println!("joined the grant's MLS group (epoch {}): every response below is sealed to it", instance.epoch(access.request_id()).unwrap_or(0));
    }

    // 5. Read the grades, page by page.
    let mut after = None;
    let (mut count, mut sum) = (0u32, 0f64);
    loop {
        let page = access.list_records("edu.grades", after, 50).await?;
        for summary in &page.records {
            let record = access.read_record(summary.record_id).await?;
            if let Some(grade) = record.body.get("grade").and_then(|g| g.as_f64()) {
                count += 1;
                sum += grade;
            }
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if count > 0 {
        println!("{count} grade(s), average {:.1}", sum / count as f64);
    } else {
        println!("no grades yet");
    }

    // 6. Write back: a homework suggestion, and a worksheet as a file (streamed).
    let note = serde_json::json!({"title": "Fractions : exercices 1 à 5", "due": "next week", "by": "Tutorat Plus"});
    let id = access.write_record("edu.homework", &note).await?;
    println!("homework written: {id}");
    let worksheet: Vec<Result<Bytes, std::io::Error>> =
        (1..=5).map(|i| Ok(Bytes::from(format!("Exercice {i} : simplifier {}/{}\n", i * 6, i * 8)))).collect();
    let file = access.upload_file("edu.homework", "fiche-fractions.txt", futures::stream::iter(worksheet)).await?;
    let mut copy = Vec::new();
    let size = access.download_file(file).await?.write_to(&mut copy).await?;
    println!("worksheet stored and read back ({size} bytes, checksum verified)");

    // 7. When the family revokes, the very next call says so.
    if let Some(session) = guardian {
        session.revoke(access.request_id()).await?;
        match access.list_records("edu.grades", None, 1).await {
            Err(SdkError::Revoked { message }) => println!("after the revocation: {message}"),
            other => bail!("expected a revocation, got {other:?}"),
        }
    } else {
        println!("done; the family can revoke the grant at any time, and every access above is in its consent ledger");
    }
    Ok(())
}

fn missing(missing: &[String]) -> String {
    if missing.is_empty() { String::new() } else { format!(" (still needed: {})", missing.join(", ")) }
}
