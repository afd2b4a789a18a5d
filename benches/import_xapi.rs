//! `cartable import xapi` of N statements (read, checked whole, then written in one run with their dedupe keys and
//! ledger entries), in statements per second, next to the baseline measured in the same run on a fresh vault: the same
//! activity bodies stored with `Vault::put_records` in batches of 500 (no parsing, no checks, no keys), and the ratio.
//!
//! `cargo bench -p cartable --bench import_xapi` (CARTABLE_BENCH_STATEMENTS, default 20,000).

use std::process::{Command, Stdio};
use std::time::Instant;

use cartable_consent::{Action, Doctype, Resource, Role};
use cartable_vault::{NewRecord, Vault, VaultConfig};
use serde_json::json;

fn statement(i: u64) -> serde_json::Value {
    json!({
        "id": format!("3d6b2a36-2b7e-4c47-9e0c-{i:012}"),
        "actor": {"mbox": "mailto:lea@example.org", "name": "Léa"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"id": format!("http://ent.example/lecons/{i}"), "definition": {"name": {"fr-FR": format!("Leçon {i} : les fractions")}}},
        "context": {"contextActivities": {"parent": [{"id": "http://ent.example/maths", "definition": {"name": {"fr": "Mathématiques"}}}]}},
        "timestamp": "2026-11-20T10:00:00Z",
    })
}

/// A vault with one family and one child.
async fn new_family(dir: &std::path::Path) -> (Vault, String, String, cartable_consent::FamilyId, cartable_consent::MemberId) {
    let vault = Vault::open(VaultConfig::embedded(dir.join("data"))).await.unwrap();
    let family = vault.create_family("Bench").await.unwrap();
    let manage = vault.as_operator(family, Action::Manage, Resource::Family).await.unwrap();
    let child = vault.add_member(&manage, Role::Child, "Léa", Some(time::macros::date!(2013 - 05 - 02))).await.unwrap();
    (vault, family.to_string(), child.to_string(), family, child)
}

#[tokio::main]
async fn main() {
    let n: u64 = std::env::var("CARTABLE_BENCH_STATEMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("statements.jsonl");
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&statement(i).to_string());
        text.push('\n');
    }
    std::fs::write(&input, &text).unwrap();

    // The baseline: the activity bodies the import makes, written as plain records.
    let base_dir = tempfile::tempdir().unwrap();
    let (vault, _, _, family, child) = new_family(base_dir.path()).await;
    let permit = vault.as_operator(family, Action::Write, Resource::Collection { child, doctype: Doctype::Activity }).await.unwrap();
    let start = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let records = chunk
            .iter()
            .map(|i| {
                let s = statement(*i);
                let body = json!({"verb": s["verb"]["id"], "title": s["object"]["definition"]["name"]["fr-FR"], "date": "2026-11-20", "statement": s});
                NewRecord { child, doctype: Doctype::Activity, source: "operator".into(), body }
            })
            .collect();
        vault.put_records(&permit, records).await.unwrap();
    }
    let baseline = start.elapsed().as_secs_f64();
    drop(vault);

    // The import, through the binary (its start and both passes included).
    let run_dir = tempfile::tempdir().unwrap();
    let (vault, f, c, _, _) = new_family(run_dir.path()).await;
    drop(vault);
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_cartable"))
        .arg("--data")
        .arg(run_dir.path().join("data"))
        .args(["import", "xapi"])
        .arg(&input)
        .args(["--family", &f, "--child", &c])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the import failed");
    let import = start.elapsed().as_secs_f64();

    println!("{n} statements ({:.1} MB)", text.len() as f64 / 1e6);
    println!("baseline put_records: {:>8.0} statements/s ({baseline:.2} s)", n as f64 / baseline);
    println!("cartable import xapi: {:>8.0} statements/s ({import:.2} s)", n as f64 / import);
    println!("ratio import/baseline time: {:.2}", import / baseline);
}
