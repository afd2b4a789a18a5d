//! The command line as operators and scripts use it: the real binary on a fresh data folder.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod cli_support;

use cli_support::{Cli, failure_line};

struct Cartable {
    dir: tempfile::TempDir,
    cli: Cli,
}

impl Cartable {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cli = Cli { data: dir.path().join("data"), database_url: None };
        Cartable { dir, cli }
    }

    fn data(&self) -> std::path::PathBuf {
        self.cli.data.clone()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cli.run(args, None)
    }

    fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        self.cli.run(args, Some(input))
    }

    fn json(&self, args: &[&str]) -> Value {
        self.cli.json(args)
    }

    fn json_stdin(&self, args: &[&str], input: &str) -> Value {
        self.cli.json_in(args, Some(input))
    }

    fn fails(&self, args: &[&str]) -> String {
        self.cli.fails(args)
    }

    fn family(&self) -> (String, String, String) {
        let family = self.json(&["family", "create", "--name", "Martin"])["family_id"].as_str().unwrap().to_owned();
        let guardian = self.json(&["member", "add", "--family", &family, "--role", "guardian", "--name", "Claire"])["member_id"].as_str().unwrap().to_owned();
        let child = self.json(&["member", "add", "--family", &family, "--role", "child", "--name", "Léa", "--birth-date", "2014-05-02"])["member_id"]
            .as_str()
            .unwrap()
            .to_owned();
        (family, guardian, child)
    }

    fn count_records(&self, family: &str) -> usize {
        self.json(&["record", "list", "--family", family, "--limit", "1000"])["records"].as_array().unwrap().len()
    }
}

#[test]
fn records_and_files_round_trip_through_the_cli() {
    let c = Cartable::new();
    let (family, _, child) = c.family();
    let id = c.json_stdin(
        &["record", "put", "--family", &family, "--child", &child, "--doctype", "edu.grades", "--body", "-"],
        r#"{"subject": "français", "grade": 16.5}"#,
    )["record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body_file = c.dir.path().join("devoir.json");
    std::fs::write(&body_file, r#"{"title": "rédaction", "due": "2026-12-01"}"#).unwrap();
    c.json(&["record", "put", "--family", &family, "--child", &child, "--doctype", "edu.homework", "--body", body_file.to_str().unwrap()]);

    let doc = c.json(&["record", "get", "--family", &family, "--id", &id]);
    assert_eq!(doc["body"]["subject"], "français");
    assert_eq!(doc["body"]["grade"], 16.5);
    assert_eq!(doc["doctype"], "edu.grades");
    assert_eq!(doc["child"], child.as_str());
    assert_eq!(doc["version"], 1);

    let grades = c.json(&["record", "list", "--family", &family, "--child", &child, "--doctype", "edu.grades"]);
    assert_eq!(grades["records"].as_array().unwrap().len(), 1);
    assert_eq!(c.count_records(&family), 2);

    // A file of several age chunks, byte for byte.
    let src = c.dir.path().join("bulletin.pdf");
    let content: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(&src, &content).unwrap();
    let fid = c.json(&["file", "put", "--family", &family, "--child", &child, "--doctype", "edu.report-cards", src.to_str().unwrap()])["record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = c.dir.path().join("copie.pdf");
    let got = c.json(&["file", "get", "--family", &family, "--id", &fid, "--out", out.to_str().unwrap()]);
    assert_eq!(got["name"], "bulletin.pdf");
    assert_eq!(got["size"], content.len() as u64);
    assert_eq!(std::fs::read(&out).unwrap(), content);

    // Human output too.
    let plain = c.run(&["record", "get", "--family", &family, "--id", &id]);
    assert!(String::from_utf8_lossy(&plain.stdout).contains("français"));
}

#[test]
fn bad_input_is_one_clear_line_and_changes_nothing() {
    let c = Cartable::new();
    let (family, guardian, child) = c.family();
    let other = c.json(&["family", "create", "--name", "Autre"])["family_id"].as_str().unwrap().to_owned();
    let other_child = c.json(&["member", "add", "--family", &other, "--role", "child", "--name", "Tom", "--birth-date", "2012-02-02"])["member_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = c.count_records(&family);

    let put = |doctype: &str, child: &str, body: &str| {
        let args = ["record", "put", "--family", &family, "--child", child, "--doctype", doctype, "--body", "-"];
        let out = c.run_with_stdin(&args, body);
        failure_line(&args, &out)
    };
    assert!(put("edu.grades", &child, "{not json").contains("not valid JSON"));
    assert!(put("edu.grades", &child, "[1, 2]").contains("JSON object"));
    assert!(put("edu.gradez", &child, "{}").contains("unknown doctype `edu.gradez`"));
    assert!(put("edu.grades", &other_child, "{}").contains("denied"), "a child of another family");
    assert!(put("edu.grades", &guardian, "{}").contains("denied"), "a guardian has no collections");
    assert!(put("edu.grades", "not-an-id", "{}").contains("not a valid member id"));
    assert_eq!(c.count_records(&family), before);
    assert_eq!(c.count_records(&other), 0);

    assert!(c.fails(&["member", "add", "--family", &family, "--role", "child", "--name", "Sans date"]).contains("birth date"));
    assert!(c.fails(&["member", "add", "--family", &family, "--role", "cousin", "--name", "X"]).contains("unknown role"));
    assert!(c.fails(&["member", "add", "--family", &family, "--role", "child", "--name", "X", "--birth-date", "2014-13-40"]).contains("not a date"));
    assert!(c.fails(&["record", "get", "--family", &other, "--id", &uuid_like()]).contains("is not in this family"));
    assert!(c.fails(&["family", "delete", "--family", &family]).contains("--yes"));
    assert!(c.fails(&["file", "put", "--family", &family, "--child", &child, "--doctype", "edu.documents", "/nonexistent/file.pdf"]).contains("cannot open"));

    // A missing or corrupted master key: a clear error, no new key, nothing touched.
    let key = c.data().join("keys/master.key");
    let saved = std::fs::read(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    assert!(c.fails(&["record", "list", "--family", &family]).contains("master key file"));
    assert!(!key.exists(), "a missing key is never silently replaced");
    std::fs::write(&key, "AGE-SECRET-KEY-1NOTAKEY\n").unwrap();
    assert!(c.fails(&["record", "list", "--family", &family]).contains("corrupted"));
    std::fs::write(&key, saved).unwrap();
    assert_eq!(c.count_records(&family), before);
}

fn uuid_like() -> String {
    "01900000-0000-7000-8000-000000000000".to_owned()
}

#[test]
fn several_processes_writing_at_once_lose_nothing() {
    let c = Cartable::new();
    let (family, _, child) = c.family();
    let mut children = Vec::new();
    for p in 0..4 {
        let script = format!(
            "for i in $(seq 1 8); do echo '{{\"p\": {p}, \"i\": '$i'}}' | \"$0\" --data \"$1\" --json record put --family {family} --child {child} --doctype edu.attendance --body - || exit 1; done"
        );
        children.push(
            Command::new("sh")
                .arg("-c")
                .arg(script)
                .arg(env!("CARGO_BIN_EXE_cartable"))
                .arg(c.data())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    let mut acknowledged = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a writer failed: {}", String::from_utf8_lossy(&out.stderr));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            acknowledged.push(v["record_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(acknowledged.len(), 32);
    let listed = c.json(&["record", "list", "--family", &family, "--limit", "1000"]);
    let ids: Vec<&str> = listed["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    for id in &acknowledged {
        assert!(ids.contains(&id.as_str()), "acknowledged record {id} is missing");
    }
    // Every write was decided and logged, in one linear log.
    let verified = c.json(&["ledger", "verify", "--family", &family]);
    assert_eq!(verified["size"], 2 + 32 + 1, "the two members added, 32 writes and the listing");
}

#[test]
fn erasing_a_family_then_rotating_the_key_leaves_backups_unreadable() {
    let c = Cartable::new();
    let (family, _, child) = c.family();
    c.json_stdin(&["record", "put", "--family", &family, "--child", &child, "--doctype", "edu.grades", "--body", "-"], r#"{"grade": 12}"#);
    let keep = c.json(&["family", "create", "--name", "Gardée"])["family_id"].as_str().unwrap().to_owned();
    // A backup of the data folder without the key, as the README tells operators to make.
    let backup = c.dir.path().join("backup");
    copy_dir(&c.data(), &backup, &["keys"]);
    c.json(&["family", "delete", "--family", &family, "--yes"]);
    let verified = c.json(&["ledger", "verify", "--family", &family]);
    let last = c.json(&["ledger", "list", "--family", &family]);
    assert_eq!(last["entries"].as_array().unwrap().last().unwrap()["receipt"]["event"], "erasure");
    assert_eq!(verified["size"], 5, "the two members added, the write, the operator's decision to erase and the erasure");
    let rotated = c.json(&["key", "rotate"]);
    assert_eq!(rotated["rewrapped"], 1);
    // The backup with the current key: the vault refuses it (its families are wrapped to the destroyed key).
    std::fs::create_dir_all(backup.join("keys")).unwrap();
    std::fs::copy(c.data().join("keys/master.key"), backup.join("keys/master.key")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cartable")).arg("--data").arg(&backup).args(["record", "list", "--family", &family]).output().unwrap();
    assert!(failure_line(&["backup"], &out).contains("does not match"));
    // The family kept is still whole.
    assert_eq!(c.count_records(&keep), 0);
}

fn copy_dir(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let dest = to.join(&name);
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &dest, &[]);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

#[test]
fn default_config_prints_a_commented_toml_that_the_cli_accepts() {
    let c = Cartable::new();
    let out = c.run(&["default-config"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("digital_consent_age = 15") && text.contains("# "));
    let file = c.dir.path().join("cartable.toml");
    std::fs::write(&file, text.replace("./cartable-data", c.data().to_str().unwrap())).unwrap();
    let created = c.json(&["--config", file.to_str().unwrap(), "family", "create", "--name", "Via config"]);
    assert!(created["family_id"].is_string());
    std::fs::write(&file, "colour = 'bleu'\n").unwrap();
    assert!(c.fails(&["--config", file.to_str().unwrap(), "family", "list"]).contains("invalid"));
}

#[cfg(unix)]
#[test]
fn file_get_writes_a_private_file_and_follows_no_planted_symlink() {
    use std::os::unix::fs::PermissionsExt as _;
    let c = Cartable::new();
    let (family, _, child) = c.family();
    let src = c.dir.path().join("bulletin.pdf");
    std::fs::write(&src, b"the report card of a child").unwrap();
    let fid = c.json(&["file", "put", "--family", &family, "--child", &child, "--doctype", "edu.report-cards", src.to_str().unwrap()])["record_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another local user plants a symlink where `file get` used to write its temporary file.
    let outdir = c.dir.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let victim = c.dir.path().join("victim.txt");
    std::fs::write(&victim, b"untouched").unwrap();
    std::os::unix::fs::symlink(&victim, outdir.join("copie.cartable-partial")).unwrap();
    let out = outdir.join("copie.pdf");
    // An existing, world-readable file at the destination is replaced, not reused.
    std::fs::write(&out, b"old").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();

    c.json(&["file", "get", "--family", &family, "--id", &fid, "--out", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
    assert_eq!(std::fs::read(&out).unwrap(), b"the report card of a child");
    assert!(!std::fs::symlink_metadata(&out).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    // Nothing is left beside it but the planted link.
    let mut left: Vec<String> = std::fs::read_dir(&outdir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["copie.cartable-partial", "copie.pdf"]);
}
