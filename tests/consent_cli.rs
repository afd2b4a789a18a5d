//! Consent through the command line: requests, approvals by age, decisions explained, revocation,
//! prohibitions, and the ledger's proofs checked offline.

use std::process::{Command, Output};

use serde_json::Value;

mod cli_support;

use cli_support::Cli;

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

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.cli.run(args, stdin)
    }

    fn json(&self, args: &[&str]) -> Value {
        self.cli.json(args)
    }

    fn json_in(&self, args: &[&str], stdin: Option<&str>) -> Value {
        self.cli.json_in(args, stdin)
    }

    fn id(&self, args: &[&str], field: &str) -> String {
        self.json(args)[field].as_str().unwrap_or_else(|| panic!("{args:?} gave no {field}")).to_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        self.cli.fails(args)
    }
}

/// A birth date that makes a child exactly `years` old today plus `days` days.
fn born(years: i32, days: i64) -> String {
    let today = time::OffsetDateTime::now_utc().date();
    let date = today.replace_year(today.year() - years).unwrap_or_else(|_| today.replace_day(28).unwrap().replace_year(today.year() - years).unwrap());
    (date - time::Duration::days(days)).to_string()
}

#[test]
fn requests_follow_the_age_rules_and_decisions_are_explained() {
    let c = Cartable::new();
    let family = c.id(&["family", "create", "--name", "Martin"], "family_id");
    let guardian = c.id(&["member", "add", "--family", &family, "--role", "guardian", "--name", "Claire"], "member_id");
    let young = c.id(&["member", "add", "--family", &family, "--role", "child", "--name", "Léa", "--birth-date", &born(14, 30)], "member_id");
    let teen = c.id(&["member", "add", "--family", &family, "--role", "child", "--name", "Hugo", "--birth-date", &born(16, 30)], "member_id");
    let adult = c.id(&["member", "add", "--family", &family, "--role", "child", "--name", "Inès", "--birth-date", &born(19, 0)], "member_id");
    let registered = c.json(&["service", "register", "--name", "Tutorat Plus"]);
    let service = registered["service_id"].as_str().unwrap().to_owned();
    assert!(registered["secret"].as_str().unwrap().len() >= 40, "the secret is shown once");
    let other_service = c.id(&["service", "register", "--name", "Autre"], "service_id");

    let request = |child: &str, doctypes: &str, actions: &str| {
        c.id(
            &["request", "create", "--service", &service, "--family", &family, "--child", child, "--doctype", doctypes, "--actions", actions, "--purpose", "soutien en mathématiques", "--legal-basis", "consent", "--days", "30"],
            "request_id",
        )
    };
    let put = |child: &str, doctype: &str| {
        c.json_in(&["record", "put", "--family", &family, "--child", child, "--doctype", doctype, "--body", "-"], Some(r#"{"grade": 14}"#))["record_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let check = |principal: &str, action: &str, record: &str, at: Option<&str>| {
        let mut args = vec!["access", "check", "--family", &family, "--principal", principal, "--action", action, "--record", record];
        if let Some(at) = at {
            args.extend(["--at", at]);
        }
        c.json(&args)
    };
    let svc = format!("service:{service}");

    // 14: a guardian's approval suffices.
    let young_grades = put(&young, "edu.grades");
    let young_homework = put(&young, "edu.homework");
    let r1 = request(&young, "edu.grades", "read,list");
    assert_eq!(check(&svc, "read", &young_grades, None)["decision"], "deny", "not approved yet");
    let approved = c.json(&["request", "approve", "--family", &family, "--request", &r1, "--by", &guardian]);
    assert_eq!(approved["state"], "active");
    assert_eq!(approved["missing"].as_array().unwrap().len(), 0);
    let allowed = check(&svc, "read", &young_grades, None);
    assert_eq!(allowed["decision"], "allow");
    assert!(allowed["reasons"].as_array().unwrap().iter().any(|r| r.as_str().unwrap().contains(&r1)), "{allowed}");
    assert_eq!(check(&svc, "write", &young_grades, None)["decision"], "deny", "an action not granted");
    assert_eq!(check(&svc, "read", &young_homework, None)["decision"], "deny", "a collection not granted");
    assert_eq!(check(&format!("service:{other_service}"), "read", &young_grades, None)["decision"], "deny", "another service");
    assert_eq!(check(&format!("member:{guardian}"), "read", &young_grades, None)["decision"], "allow", "a guardian of a minor");
    assert_eq!(check("dpo:01900000-0000-7000-8000-000000000001", "read", &young_grades, None)["decision"], "deny", "a DPO never reads contents");
    assert_eq!(check(&svc, "read", &young_grades, Some("2099-01-01T00:00:00Z"))["decision"], "deny", "after expiry");
    // A child under the age of digital consent cannot approve.
    let r1b = request(&young, "edu.homework", "read");
    assert!(c.fails(&["request", "approve", "--family", &family, "--request", &r1b, "--by", &young]).starts_with("error: "));

    // 16: the guardian and the child must both approve.
    let teen_grades = put(&teen, "edu.grades");
    let r2 = request(&teen, "edu.grades", "read");
    let half = c.json(&["request", "approve", "--family", &family, "--request", &r2, "--by", &guardian]);
    assert_eq!(half["state"], "requested");
    assert_eq!(half["missing"], serde_json::json!(["the child"]));
    assert_eq!(check(&svc, "read", &teen_grades, None)["decision"], "deny");
    let text = c.run(&["request", "approve", "--family", &family, "--request", &r2, "--by", &teen], None);
    assert!(String::from_utf8_lossy(&text.stdout).contains("active"), "{}", String::from_utf8_lossy(&text.stderr));
    assert_eq!(check(&svc, "read", &teen_grades, None)["decision"], "allow");

    // 19: the adult child alone decides; guardians lose access to their data.
    let adult_grades = put(&adult, "edu.grades");
    let r3 = request(&adult, "edu.grades", "read");
    assert!(c.fails(&["request", "approve", "--family", &family, "--request", &r3, "--by", &guardian]).starts_with("error: "));
    assert_eq!(c.json(&["request", "approve", "--family", &family, "--request", &r3, "--by", &adult])["state"], "active");
    assert_eq!(check(&format!("member:{guardian}"), "read", &adult_grades, None)["decision"], "deny");
    assert_eq!(check(&format!("member:{adult}"), "read", &adult_grades, None)["decision"], "allow");

    // A denied request never becomes a grant.
    let r4 = request(&young, "edu.attendance", "read");
    assert_eq!(c.json(&["request", "deny", "--family", &family, "--request", &r4, "--by", &guardian])["state"], "denied");
    assert!(c.fails(&["request", "approve", "--family", &family, "--request", &r4, "--by", &guardian]).starts_with("error: "));

    // Revocation is in force for the very next decision.
    c.json(&["grant", "revoke", "--family", &family, "--grant", &r1, "--by", &guardian]);
    assert_eq!(check(&svc, "read", &young_grades, None)["decision"], "deny");
    let grants = c.json(&["grant", "list", "--family", &family]);
    let states: Vec<(&str, &str)> = grants["grants"].as_array().unwrap().iter().map(|g| (g["id"].as_str().unwrap(), g["state"].as_str().unwrap())).collect();
    assert!(states.contains(&(r1.as_str(), "revoked")) && states.contains(&(r2.as_str(), "active")) && states.contains(&(r4.as_str(), "denied")));

    // A family-wide prohibition overrides grants and refuses new requests.
    let pai = put(&teen, "health.pai");
    let r5 = request(&teen, "health.pai", "read");
    c.json(&["request", "approve", "--family", &family, "--request", &r5, "--by", &guardian]);
    c.json(&["request", "approve", "--family", &family, "--request", &r5, "--by", &teen]);
    assert_eq!(check(&svc, "read", &pai, None)["decision"], "allow");
    c.json(&["policy", "forbid", "--family", &family, "--doctype", "health.pai", "--by", &guardian]);
    let refused = check(&svc, "read", &pai, None);
    assert_eq!(refused["decision"], "deny");
    assert!(refused["reasons"].to_string().contains("forbid"), "{refused}");
    assert!(c.fails(&["request", "create", "--service", &service, "--family", &family, "--child", &teen, "--doctype", "health.pai", "--actions", "read", "--purpose", "x", "--days", "3"]).contains("health.pai"));
    let policies = c.json(&["policy", "show", "--family", &family])["policies"].as_str().unwrap().to_owned();
    assert!(policies.contains("forbid") && policies.contains(&r2) && !policies.contains(&r1), "revoked grants leave the policy set");

    // The ledger: verified, reviewable, and a receipt's proof checks offline.
    let verified = c.json(&["ledger", "verify", "--family", &family]);
    assert_eq!(verified["grants_checked"], 6);
    let approvals = c.json(&["ledger", "list", "--family", &family, "--event", "approve"]);
    assert_eq!(approvals["entries"].as_array().unwrap().len(), 6);
    for entry in approvals["entries"].as_array().unwrap() {
        let text = entry["receipt"].to_string();
        assert!(!text.contains("Léa") && !text.contains("Hugo") && !text.contains("\"grade\""), "receipts hold ids and categories only: {text}");
    }
    let key = c.id(&["ledger", "key"], "verifier_key");
    let proof = c.json(&["ledger", "proof", "--family", &family, "--entry", "3"])["proof"].as_str().unwrap().to_owned();
    let file = c.dir.path().join("proof.txt");
    std::fs::write(&file, &proof).unwrap();
    let checked = c.json(&["ledger", "check-proof", file.to_str().unwrap(), "--key", &key]);
    assert_eq!(checked["index"], 3);
    // Offline means offline: it works with no data folder at all.
    let out = Command::new(env!("CARGO_BIN_EXE_cartable")).args(["ledger", "check-proof", file.to_str().unwrap(), "--key", &key]).current_dir(c.dir.path()).output().unwrap();
    assert!(out.status.success());
    // A proof whose entry was altered does not check.
    let tampered = proof.replacen("index 3", "index 2", 1);
    std::fs::write(&file, tampered).unwrap();
    assert!(c.fails(&["ledger", "check-proof", file.to_str().unwrap(), "--key", &key]).contains("does not verify"));
}
