//! `cartable archive export` of a family made mostly of files, plus many small records: MB/s and the process's peak
//! memory, next to `zip -r -1` of the same plaintext files in the same run, and the ratio; for a family of a tenth
//! of the size and of the full size, whose peaks must be about the same (memory does not grow with the family).
//!
//! `cargo bench -p cartable --bench archive_export` (CARTABLE_BENCH_ARCHIVE_MB, default 1,000, of files of 20 MiB at
//! most; CARTABLE_BENCH_ARCHIVE_RECORDS, default 100,000). Needs `zip` (Debian's package) for the baseline.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use cartable_consent::{Action, Doctype, Resource, Role};
use cartable_vault::{NewRecord, Vault, VaultConfig};

const MIB: u64 = 1024 * 1024;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs a command to its end; returns the seconds it took and its peak resident memory (`VmHWM`, MiB).
fn measured(mut command: Command) -> (f64, f64) {
    let start = Instant::now();
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().expect("the command starts");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            peak_kib = peak_kib.max(line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0));
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(status.success(), "{command:?} failed");
    (start.elapsed().as_secs_f64(), peak_kib as f64 / 1024.0)
}

/// Files that do not compress (photos, PDFs and videos mostly do not), in `folder` and in the family.
async fn family(data: &Path, plain: &Path, megabytes: u64, records: u64) -> String {
    let vault = Vault::open(VaultConfig::embedded(data.to_owned())).await.unwrap();
    let family = vault.create_family("Martin").await.unwrap();
    let manage = vault.as_operator(family, Action::Manage, Resource::Family).await.unwrap();
    let child = vault.add_member(&manage, Role::Child, "Léa", Some(time::macros::date!(2014 - 05 - 02))).await.unwrap();
    let write = vault.as_operator(family, Action::Write, Resource::Collection { child, doctype: Doctype::Grades }).await.unwrap();
    for start in (0..records).step_by(5_000) {
        let batch = (start..(start + 5_000).min(records))
            .map(|i| NewRecord {
                child,
                doctype: Doctype::Grades,
                source: "operator".into(),
                body: serde_json::json!({"subject": "mathématiques", "grade": i % 20, "out_of": 20, "date": "2026-03-12", "comment": format!("contrôle n° {i}")}),
            })
            .collect();
        vault.put_records(&write, batch).await.unwrap();
    }
    let docs = vault.as_operator(family, Action::Write, Resource::Collection { child, doctype: Doctype::Documents }).await.unwrap();
    std::fs::create_dir_all(plain).unwrap();
    let (mut left, mut n, mut state) = (megabytes * MIB, 0, 0x9e37_79b9_7f4a_7c15u64);
    while left > 0 {
        let size = left.min(20 * MIB);
        let mut bytes = vec![0u8; size as usize];
        for b in bytes.iter_mut() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            *b = (state >> 56) as u8;
        }
        let name = format!("document-{n}.bin");
        std::fs::File::create(plain.join(&name)).unwrap().write_all(&bytes).unwrap();
        vault.put_file(&docs, child, Doctype::Documents, "operator".into(), name, Box::new(std::io::Cursor::new(bytes))).await.unwrap();
        left -= size;
        n += 1;
    }
    // The search index's work done before the export is measured.
    let search = vault.as_operator(family, Action::Search, Resource::Family).await.unwrap();
    vault.search(&[&search], &cartable_vault::SearchQuery { text: "controle".into(), ..Default::default() }).await.unwrap();
    vault.close().await.unwrap();
    family.to_string()
}

struct Run {
    megabytes: u64,
    export: (f64, f64),
    zip: (f64, f64),
}

async fn run(megabytes: u64, records: u64) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (data, plain) = (dir.path().join("data"), dir.path().join("plain"));
    eprintln!("setting up a family of {megabytes} MB of files and {records} records…");
    let family = family(&data, &plain, megabytes, records).await;
    let mut export = Command::new(env!("CARGO_BIN_EXE_cartable"));
    export.arg("--data").arg(&data).args(["archive", "export", "--family", &family, "--out"]).arg(dir.path().join("family.zip"));
    let export = measured(export);
    let mut zip = Command::new("zip");
    zip.current_dir(&plain).args(["-q", "-r", "-1"]).arg(dir.path().join("plain.zip")).arg(".");
    let zip = measured(zip);
    Run { megabytes, export, zip }
}

#[tokio::main]
async fn main() {
    if Command::new("zip").arg("-v").stdout(Stdio::null()).status().is_err() {
        eprintln!("skipped: `zip` is not installed (Debian's package zip) for the baseline");
        return;
    }
    let (megabytes, records) = (env("CARTABLE_BENCH_ARCHIVE_MB", 1_000), env("CARTABLE_BENCH_ARCHIVE_RECORDS", 100_000));
    let small = run((megabytes / 10).max(1), records / 10).await;
    let large = run(megabytes, records).await;
    println!("{:>10} {:>14} {:>14} {:>8} {:>16} {:>12}", "family", "export MB/s", "zip -1 MB/s", "ratio", "export peak MiB", "zip peak MiB");
    for r in [&small, &large] {
        let (export_rate, zip_rate) = (r.megabytes as f64 / r.export.0, r.megabytes as f64 / r.zip.0);
        println!(
            "{:>7} MB {:>14.1} {:>14.1} {:>7.2}x {:>16.1} {:>12.1}",
            r.megabytes,
            export_rate,
            zip_rate,
            export_rate / zip_rate,
            r.export.1,
            r.zip.1
        );
    }
    println!("export peak memory, full size / a tenth: {:.2}x (the aim: within 10%)", large.export.1 / small.export.1);
}
