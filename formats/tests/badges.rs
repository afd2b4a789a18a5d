//! Open Badges and CLR through the public API: every file of the 1EdTech validator's test resources (read without a
//! panic, and the validator's expected outcome where this reader's offline checks cover it), VC-JWTs signed here
//! with a `did:key`, and hostile inputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cartable_formats::badges::{self, BadgeError, CERTIFICATES_DOCTYPE, Credential, Format, ReadLimits, Rule, VerificationStatus};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

/// The day the sample data was taken (its commit date): the validator's expectations about expiry hold then.
const NOW: OffsetDateTime = datetime!(2026-07-01 0:00 UTC);

/// The 1EdTech validator's resources (`$CARTABLE_TESTDATA/badges/1edtech-dc-validator`, else
/// `../shared/testdata/...` beside the workspace), or `None` with a message when they are not on this machine.
fn testdata() -> Option<PathBuf> {
    let root = match std::env::var_os("CARTABLE_TESTDATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"),
    };
    let dir = root.join("badges/1edtech-dc-validator");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: no Open Badges test data at {} (set CARTABLE_TESTDATA to the shared testdata folder)", dir.display());
        None
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files(&path, out) } else { out.push(path) }
    }
}

fn read(bytes: &[u8]) -> Result<Vec<Credential>, BadgeError> {
    badges::read(bytes, ReadLimits::STANDARD, NOW)
}

/// Valid as the validator means it: read, no violation in any credential, no signature that failed.
fn is_valid(outcome: &Result<Vec<Credential>, BadgeError>) -> bool {
    outcome.as_ref().is_ok_and(|all| all.iter().all(|c| c.violations().is_empty() && c.verification().status != VerificationStatus::Failed))
}

#[test]
fn every_file_of_the_validator_reads_without_panic() {
    let Some(dir) = testdata() else { return };
    let mut all = Vec::new();
    files(&dir, &mut all);
    assert!(all.len() > 100, "{} files", all.len());
    let (mut credentials, mut refused) = (0, 0);
    for path in &all {
        let bytes = std::fs::read(path).unwrap();
        match read(&bytes) {
            Ok(list) => {
                for c in &list {
                    credentials += 1;
                    let v = c.verification();
                    assert!(v.status == VerificationStatus::Verified || v.reason.is_some(), "{}: no reason for {:?}", path.display(), v);
                    let records = c.records();
                    assert_eq!(records.len(), usize::from(c.violations().is_empty()));
                    for r in records {
                        assert_eq!(r.doctype, CERTIFICATES_DOCTYPE);
                        assert!(r.body["title"].is_string() && r.body["date"].is_string(), "{}: {}", path.display(), r.body);
                        assert_eq!(r.body["verification"]["status"], v.status.as_str());
                    }
                }
            }
            Err(e) => {
                refused += 1;
                assert!(!e.to_string().is_empty());
            }
        }
        // Every prefix of a file is an error or a reading, never a panic.
        for cut in [1, bytes.len() / 3, bytes.len() / 2, bytes.len().saturating_sub(1)] {
            let _ = read(&bytes[..cut.min(bytes.len())]);
        }
    }
    eprintln!("{} files: {credentials} credentials, {refused} refused", all.len());
}

/// What the validator expects of a file, from its `Sample` flag and the assertions of its tests (which win: several
/// flags are left at their default while the test asserts otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    Valid,
    Invalid,
    /// Two tests assert both, each with other hosted documents served beside it.
    Both,
}

fn expectations(dir: &Path) -> BTreeMap<String, Expected> {
    let text = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let mut columns = line.split('\t');
        let (file, flag, asserts) = (columns.next().unwrap(), columns.next().unwrap_or(""), columns.next().unwrap_or(""));
        let counts_errors = |name: &str| asserts.match_indices(name).any(|(i, _)| !asserts[i + name.len()..].trim_start().starts_with("0)"));
        let valid = asserts.contains("assertValid") || asserts.contains("assertWarning");
        let invalid = asserts.contains("assertInvalid")
            || asserts.contains("assertFalse(report.asBoolean())")
            || counts_errors("assertErrorCount(report,")
            || counts_errors("assertFatalCount(report,");
        let expected = match (valid, invalid) {
            (true, true) => Expected::Both,
            (true, false) => Expected::Valid,
            (false, true) => Expected::Invalid,
            (false, false) if flag == "valid=true" => Expected::Valid,
            (false, false) => Expected::Invalid,
        };
        out.insert(file.to_owned(), expected);
    }
    out
}

/// Expectations this reader cannot meet offline, each with why. They are listed, not skipped: the test checks that
/// each is in EXPECTED.tsv, and prints what the reader says of it.
const OUT_OF_SCOPE: &[(&str, &str)] = &[
    ("inspector-vc/src/test/resources/ob30/complete.json", "fails the inline JSON schemas of its `credentialSchema`, which are fetched by the validator; JSON schemas are not checked here"),
    ("inspector-vc/src/test/resources/ob30/simple-multiple-proofs.json", "JSON-LD expansion finds `SomeProofType` undefined in the contexts; no JSON-LD processing here"),
    ("inspector-vc/src/test/resources/ob30/velocity.jwt", "JSON-LD expansion against Velocity's extension context (remote); no JSON-LD processing here"),
    ("inspector-vc/src/test/resources/ob30/simple-err-proof-value.json", "a Data Integrity proof value that does not match: needs RDFC-1.0 canonicalisation and the key at an https URL"),
    ("inspector-vc/src/test/resources/ob30/simple-err-proof-method.json", "a verification method the issuer's https document does not list: needs the network"),
    ("inspector-vc/src/test/resources/ob30/simple-err-proof-method-unknown-did-method.json", "`did:example` resolves nowhere: a resolution outcome, reported here as not_verified, not a structural violation"),
    ("inspector-vc/src/test/resources/ob30/bit-string-list/credential-status-revoked.json", "revocation: the status list is fetched from the network"),
    ("inspector-vc/src/test/resources/ob30/bit-string-list/credential-status-revoked-blank-nodes.json", "revocation: the status list is fetched from the network"),
    ("inspector-vc/src/test/resources/ob30/bit-string-list/testlist", "a BitstringStatusListCredential awards nothing: refused as NotAnAward"),
    ("inspector-vc/src/test/resources/ob30/endorsement-valid.json", "an EndorsementCredential awards nothing to a learner: refused as NotAnAward"),
    ("inspector-vc/src/test/resources/ob30/endorsement-err-schema-status-refresh.json", "an EndorsementCredential awards nothing to a learner: refused as NotAnAward"),
    ("inspector-vc/src/test/resources/ob20/simple-revoked.jwt", "revocation: the hosted issuer's revocation list needs the network"),
    ("inspector-vc/src/test/resources/ob20/assertion-with-extension-node-invalid.json", "the extension is checked against its remote JSON schema"),
    ("inspector-vc/src/test/resources/ob20/assertion-with-data-image.json", "the validator's image checks of a `data:` image; images are not checked here"),
    ("inspector-vc/src/test/resources/ob20/basic-assertion-with-allowed-origins-valid-starts-with.json", "asserted both ways with different hosted BadgeClass and Issuer documents (allowed origins)"),
    ("inspector-vc/src/test/resources/ob20/basic-assertion-with-allowed-origins-invalid-starts-with.json", "asserted both ways with different hosted BadgeClass and Issuer documents (allowed origins)"),
    ("inspector-vc/src/test/resources/ob20/basic-assertion-with-allowed-origins-valid-multiple-starts-with.json", "asserted both ways with different hosted BadgeClass and Issuer documents (allowed origins)"),
    ("inspector-vc/src/test/resources/ob20/basic-assertion-with-allowed-origins-invalid-multiple-starts-with.json", "asserted both ways with different hosted BadgeClass and Issuer documents (allowed origins)"),
    ("inspector-vc/src/test/resources/ob20/assets/badgeclass1.json", "a BadgeClass awards nothing by itself: refused as NotAnAward"),
    ("inspector-vc/src/test/resources/ob20/assets/badge-with-data-image.json", "a BadgeClass awards nothing by itself: refused as NotAnAward"),
    ("inspector-vc/src/test/resources/ob20/assets/badgeclass-with-complex-image.json", "a BadgeClass awards nothing by itself: refused as NotAnAward"),
    ("inspector-vc/src/test/resources/ob20/badge-class-with-language.json", "a BadgeClass awards nothing by itself: refused as NotAnAward"),
    ("inspector-vc/src/test/resources/ob20/issuer-compact-iri-validation.json", "an Issuer profile awards nothing: refused as NotAnAward"),
    ("inspector-vc/src/test/resources/ob20/rdf-validation/valid-badge-class.json", "RDF validation of a BadgeClass document, not an assertion"),
    ("inspector-vc/src/test/resources/ob20/rdf-validation/valid-issuer-extension.json", "RDF validation of an Issuer document, not an assertion"),
    ("inspector-vc/src/test/resources/ob20/rdf-validation/valid-alignment-object.json", "RDF validation of a document that is not an assertion"),
    ("inspector-vc/src/test/resources/ob20/rdf-validation/valid-cool-class.json", "RDF validation of a document that is not an assertion"),
    ("inspector-vc/src/test/resources/ob20/rdf-validation/invalid-class.json", "RDF validation of a document that is not an assertion"),
    ("inspector-vc/src/test/resources/ob20/rdf-validation/invalid-empty-type.json", "RDF validation of a document that is not an assertion"),
    ("inspector-vc/src/test/resources/ob20/rdf-validation/invalid-one-invalid-class.json", "RDF validation of an Issuer document, not an assertion"),
    ("inspector-vc/src/test/resources/ob20/rdf-validation/badge-class-invalid-issuer-type.json", "RDF validation of a BadgeClass document, not an assertion"),
    ("inspector-vc/src/test/resources/ob20/rdf-validation/valid-badge-class-empty-criteria-type.json", "RDF validation of a BadgeClass document, not an assertion"),
];

/// Where this reader knowingly answers otherwise, with its own answer asserted.
const DISAGREE: &[(&str, bool, &str)] = &[(
    "inspector-clr/src/test/resources/clr20/simple-noproof.json",
    false,
    "flagged valid in Samples.java but asserted by no test; CLR 2.0, like OB 3.0 (whose simple-noproof.json is asserted invalid), is secured by a proof or a VC-JWT: proof.required",
)];

#[test]
fn the_validators_expected_outcomes_hold_where_checked_offline() {
    let Some(dir) = testdata() else { return };
    let expected = expectations(&dir);
    assert!(expected.len() > 80, "{} rows", expected.len());
    for (file, _) in OUT_OF_SCOPE {
        assert!(expected.contains_key(*file), "{file} is not in EXPECTED.tsv");
    }
    let (mut matched, mut mismatched) = (0, Vec::new());
    for (file, expectation) in &expected {
        let outcome = read(&std::fs::read(dir.join(file)).unwrap());
        let valid = is_valid(&outcome);
        if let Some((_, why)) = OUT_OF_SCOPE.iter().find(|(f, _)| f == file) {
            eprintln!("out of scope: {file} (expected {expectation:?}, read as {}): {why}", if valid { "valid" } else { "invalid" });
            continue;
        }
        if let Some((_, ours, why)) = DISAGREE.iter().find(|(f, _, _)| f == file) {
            assert_eq!(valid, *ours, "{file}");
            eprintln!("disagree: {file}: {why}");
            continue;
        }
        assert_ne!(*expectation, Expected::Both, "{file} is asserted both ways and needs a reason in OUT_OF_SCOPE");
        if valid == (*expectation == Expected::Valid) {
            matched += 1;
        } else {
            let said = match &outcome {
                Ok(list) => format!("{:?}", list.iter().flat_map(|c| c.violations().iter().map(|v| (v.rule.as_str(), v.path.clone()))).collect::<Vec<_>>()),
                Err(e) => e.to_string(),
            };
            mismatched.push(format!("{file}: expected {expectation:?}, read {said}"));
        }
    }
    assert!(mismatched.is_empty(), "{}", mismatched.join("\n"));
    eprintln!("{matched} expectations matched, {} out of scope, {} disagreements", OUT_OF_SCOPE.len(), DISAGREE.len());
    assert!(matched >= 45, "{matched}");
}

fn rules_of(dir: &Path, file: &str) -> Vec<(&'static str, String)> {
    let list = read(&std::fs::read(dir.join(file)).unwrap()).unwrap();
    list.iter().flat_map(|c| c.violations().iter().map(|v| (v.rule.as_str(), v.path.clone()))).collect()
}

#[test]
fn the_validators_broken_samples_break_the_named_rule() {
    let Some(dir) = testdata() else { return };
    let ob30 = "inspector-vc/src/test/resources/ob30/";
    let ob20 = "inspector-vc/src/test/resources/ob20/";
    let cases: &[(&str, &str, &str)] = &[
        ("simple-err-type.json", "type.required", "$.type"),
        ("simple-err-context.json", "context.required", "$[\"@context\"][0]"),
        ("simple-err-issuer.json", "property.required", "$.issuer"),
        ("simple-err-issuer-type.json", "type.required", "$.issuer.type"),
        ("simple-err-issuer-parentorg-type.json", "type.required", "$.issuer.parentOrg.type"),
        ("simple-err-issuer-otheridentifier-type.json", "type.required", "$.issuer.otherIdentifier[1].type"),
        ("simple-err-credential-subject-type.json", "type.required", "$.credentialSubject.type"),
        ("simple-err-credential-subject-identifier-type.json", "type.required", "$.credentialSubject.identifier[0].type"),
        ("simple-err-credential-subject-result-type.json", "type.required", "$.credentialSubject.result[1].type"),
        ("simple-err-credential-subject-profile-type.json", "type.required", "$.credentialSubject.source.type"),
        ("simple-err-credential-subject-achievement-result-description-type.json", "type.required", "$.credentialSubject.achievement.resultDescription[2].type"),
        ("simple-err-evidence-type.json", "type.required", "$.evidence[1].type"),
        ("simple-err-expired.json", "credential.expired", "$.validUntil"),
        ("simple-err-issued.json", "credential.not-yet-valid", "$.validFrom"),
        ("simple-err-proof-method-no-scheme.json", "proof.verification-method", "$.proof[0].verificationMethod"),
        ("simple-err-proof-method-unknown-scheme.json", "proof.verification-method", "$.proof[0].verificationMethod"),
        ("simple-noproof.json", "proof.required", "$.proof"),
    ];
    for (file, rule, path) in cases {
        let found = rules_of(&dir, &format!("{ob30}{file}"));
        assert!(found.iter().any(|(r, p)| r == rule && p == path), "{file}: {found:?}");
    }
    let ob2: &[(&str, &[(&str, &str)])] = &[
        ("basic-assertion-invalid-context.json", &[("context.required", "$[\"@context\"]")]),
        ("basic-assertion-invalid-type.json", &[("type.required", "$.type")]),
        ("basic-assertion-expired.json", &[("credential.expired", "$.expires")]),
        ("basic-assertion-expired-before-issued.json", &[("credential.expired", "$.expires"), ("credential.expires-before-issued", "$.expires")]),
        ("basic-assertion-in-future.json", &[("credential.not-yet-valid", "$.issuedOn")]),
    ];
    for (file, rules) in ob2 {
        let found = rules_of(&dir, &format!("{ob20}{file}"));
        let want: Vec<(&str, String)> = rules.iter().map(|(r, p)| (*r, (*p).to_owned())).collect();
        assert_eq!(found, want, "{file}");
    }
}

#[test]
fn sample_vc_jwts_are_verified_with_their_header_key_and_keys_behind_the_network_are_not() {
    let Some(dir) = testdata() else { return };
    for file in ["inspector-vc/src/test/resources/ob30/simple-jwt.svg", "inspector-vc/src/test/resources/ob30/simple-jwt.png", "inspector-clr/src/test/resources/clr20/simple.jwt"] {
        for c in read(&std::fs::read(dir.join(file)).unwrap()).unwrap() {
            let v = c.verification();
            assert_eq!((v.status, v.method.as_str()), (VerificationStatus::Verified, "jws RS256"), "{file}");
            assert!(v.reason.as_deref().unwrap().contains("nothing checked offline ties that key to the issuer"), "{file}");
        }
    }
    let ob2 = read(&std::fs::read(dir.join("inspector-vc/src/test/resources/ob20/simple.jwt")).unwrap()).unwrap();
    assert_eq!(ob2[0].verification().status, VerificationStatus::NotVerified);
    assert_eq!(ob2[0].verification().reason.as_deref(), Some("the JWS names no key of its own; the key is published at http://example.org/key1.json, which needs the network"));
    let hosted = read(&std::fs::read(dir.join("inspector-vc/src/test/resources/ob20/basic-assertion.json")).unwrap()).unwrap();
    assert_eq!((hosted[0].verification().status, hosted[0].verification().method.as_str()), (VerificationStatus::NotVerified, "hosted"));
    let velocity = read(&std::fs::read(dir.join("inspector-vc/src/test/resources/ob30/velocity.jwt")).unwrap()).unwrap();
    assert!(velocity[0].verification().reason.as_deref().unwrap().contains("did:velocity, which cannot be resolved offline"));
    let did_web = read(&std::fs::read(dir.join("inspector-vc/src/test/resources/ob30/credential-status-revoked.json")).unwrap()).unwrap();
    let reason = did_web[0].verification().reason.clone().unwrap();
    assert!(reason.starts_with("Data Integrity proofs are not checked offline yet; the key is published at https://dc.1edtech.org/"), "{reason}");
    // A baked PNG and its JSON are the same credential: one dedupe key.
    let png = read(&std::fs::read(dir.join("inspector-vc/src/test/resources/ob30/simple-json.png")).unwrap()).unwrap();
    let svg = read(&std::fs::read(dir.join("inspector-vc/src/test/resources/ob30/simple-json.svg")).unwrap()).unwrap();
    assert_eq!(png[0].dedupe_key(), "http://example.com/credentials/3527");
    assert_eq!(png[0].dedupe_key(), svg[0].dedupe_key());
    assert_eq!(png[0].records()[0].body["baked"], "png");
}

#[test]
fn a_clr_gives_itself_then_each_credential_it_includes() {
    let Some(dir) = testdata() else { return };
    let list = read(&std::fs::read(dir.join("inspector-clr/src/test/resources/clr20/complex.json")).unwrap()).unwrap();
    assert_eq!(list.len(), 7);
    assert_eq!(list[0].format(), Format::Clr2);
    let clr = &list[0].records()[0];
    assert_eq!(clr.body["format"], "clr2");
    assert_eq!(clr.body["achievements"].as_array().unwrap().len(), 6);
    for part in &list[1..] {
        assert_eq!((part.format(), part.part_of()), (Format::Ob3, Some(clr.dedupe_key.as_str())));
        assert_eq!(part.records()[0].body["part_of"], clr.dedupe_key.as_str());
    }
}

#[test]
fn the_record_body_keeps_the_certificates_names() {
    let Some(dir) = testdata() else { return };
    let list = read(&std::fs::read(dir.join("inspector-vc/src/test/resources/ob30/simple.json")).unwrap()).unwrap();
    let record = &list[0].records()[0];
    assert_eq!(record.dedupe_key, "http://example.com/credentials/3527");
    let mut body = record.body.clone();
    assert_eq!(body.as_object_mut().unwrap().remove("credential").unwrap(), *list[0].as_value());
    assert_eq!(
        body,
        json!({
            "title": "Teamwork", "issuer": "Example Corp", "issuer_id": "https://example.com/issuers/876543", "date": "2010-01-01",
            "description": "This badge recognizes the development of the capacity to collaborate within a group environment.",
            "criteria": "Team members are nominated for this badge by their peers and recognized upon review by Example Corp management.",
            "format": "ob3",
            "verification": {"status": "not_verified", "method": "DataIntegrityProof eddsa-rdfc-2022",
                "reason": "Data Integrity proofs are not checked offline yet; the key is published at https://example.com/issuers/876543#z6MkjZRZv3aez3r18pB1RBFJR1kwUVJ5jHt92JmQwXbd5hwi, which needs the network"}
        })
    );
    let ob2 = read(&std::fs::read(dir.join("inspector-vc/src/test/resources/ob20/assertion-with-endorsements.json")).unwrap()).unwrap();
    let body = &ob2[0].records()[0].body;
    assert_eq!((body["title"].as_str(), body["issuer"].as_str(), body["date"].as_str()), (Some("Awesome Robotics Badge"), Some("https://example.org/organization.json"), Some("2016-12-31")));
    assert_eq!(body["evidence"], json!([{"id": "https://example.org/beths-robot-work.html"}]));
    assert_eq!(body["format"], "ob2");
}

// VC-JWTs made here, signed with Ed25519 keys that a did:key names.

fn did_key(key: &SigningKey) -> String {
    let mut bytes = vec![0xed, 0x01];
    bytes.extend_from_slice(key.verifying_key().as_bytes());
    format!("did:key:z{}", bs58::encode(bytes).into_string())
}

fn credential(issuer: &str) -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
        "id": "urn:uuid:0f1d6a9c-5a0e-4b8e-9a57-3c1e2f7b9d10",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": issuer, "type": ["Profile"], "name": "Collège Jean Moulin"},
        "validFrom": "2026-06-20T09:00:00+02:00",
        "validUntil": "2031-06-20T09:00:00+02:00",
        "name": "PIX",
        "credentialSubject": {
            "id": "did:example:leo",
            "type": ["AchievementSubject"],
            "achievement": {
                "id": "https://college.example/badges/pix", "type": ["Achievement"], "name": "PIX — Compétences numériques",
                "description": "Compétences numériques du cycle 4", "criteria": {"narrative": "Réussir le parcours Pix"},
                "resultDescription": [{"id": "urn:rd:1", "type": ["ResultDescription"], "name": "Niveau", "resultType": "RubricCriterionLevel",
                    "rubricCriterionLevel": [{"id": "urn:level:3", "type": ["RubricCriterionLevel"], "name": "Niveau 3"}]}]
            },
            "result": [{"type": ["Result"], "resultDescription": "urn:rd:1", "achievedLevel": "urn:level:3"}]
        },
        "evidence": [{"id": "https://college.example/pix/leo", "type": ["Evidence"], "name": "Parcours"}]
    })
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn sign(key: &SigningKey, header: Value, payload: Value) -> String {
    let message = format!("{}.{}", b64(&header), b64(&payload));
    let signature = key.sign(message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

fn vc_jwt(key: &SigningKey, kid: &str, vc: &Value) -> String {
    let payload = json!({"vc": vc, "iss": vc["issuer"]["id"], "jti": vc["id"], "sub": vc["credentialSubject"]["id"], "nbf": 1781938800});
    sign(key, json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}), payload)
}

fn verification_of(token: &str) -> (VerificationStatus, String, Option<String>) {
    let list = read(token.as_bytes()).unwrap();
    assert!(list[0].violations().is_empty(), "{:?}", list[0].violations());
    let v = list[0].verification().clone();
    (v.status, v.method, v.reason)
}

#[test]
fn a_vc_jwt_signed_by_the_issuers_did_key_is_verified() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let did = did_key(&key);
    let fragment = did.trim_start_matches("did:key:");
    let token = vc_jwt(&key, &format!("{did}#{fragment}"), &credential(&did));
    assert_eq!(verification_of(&token), (VerificationStatus::Verified, "jws EdDSA".into(), None));
    let list = read(token.as_bytes()).unwrap();
    let body = &list[0].records()[0].body;
    assert_eq!((body["title"].as_str(), body["date"].as_str(), body["valid_until"].as_str(), body["level"].as_str()), (Some("PIX — Compétences numériques"), Some("2026-06-20"), Some("2031-06-20"), Some("Niveau 3")));
    assert_eq!(body["result"], json!([{"name": "Niveau", "value": "Niveau 3"}]));
    assert_eq!(body["jws"], token.as_str());
    assert_eq!(body["verification"], json!({"status": "verified", "method": "jws EdDSA"}));
    // The same token baked in an SVG gives the same outcome.
    let svg = format!("<svg xmlns:openbadges=\"https://purl.imsglobal.org/ob/v3p0\"><openbadges:credential verify=\"{token}\"/></svg>");
    assert_eq!(read(svg.as_bytes()).unwrap()[0].verification().status, VerificationStatus::Verified);
}

#[test]
fn a_tampered_or_foreign_vc_jwt_fails() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let did = did_key(&key);
    let token = vc_jwt(&key, &did, &credential(&did));
    // The payload changed after signing: another achievement name, same signature.
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["vc"]["credentialSubject"]["achievement"]["name"] = json!("Baccalauréat mention très bien");
    let tampered = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
    let (status, method, reason) = verification_of(&tampered);
    assert_eq!((status, method.as_str()), (VerificationStatus::Failed, "jws EdDSA"));
    assert_eq!(reason.unwrap(), format!("the signature does not match the key `{did}`"));
    // Signed by another key than the one the kid names.
    let other = SigningKey::from_bytes(&[9; 32]);
    assert_eq!(verification_of(&vc_jwt(&other, &did, &credential(&did))).0, VerificationStatus::Failed);
    // A valid signature by a did:key that is not the issuer's DID.
    let (status, _, reason) = verification_of(&vc_jwt(&other, &did_key(&other), &credential(&did)));
    assert_eq!(status, VerificationStatus::Failed);
    assert!(reason.unwrap().contains("which is not the issuer's"));
    // A signature cut short.
    let short = &token[..token.len() - 10];
    assert_eq!(verification_of(short).0, VerificationStatus::Failed);
}

#[test]
fn keys_behind_the_network_are_not_verified_and_say_where() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let web = vc_jwt(&key, "did:web:college.example#key-1", &credential("did:web:college.example"));
    assert_eq!(
        verification_of(&web),
        (VerificationStatus::NotVerified, "jws EdDSA".into(), Some("the key is published at https://college.example/ (did:web `did:web:college.example#key-1`), which needs the network".into()))
    );
    let https = vc_jwt(&key, "https://college.example/keys/1", &credential("https://college.example"));
    assert_eq!(verification_of(&https).2.unwrap(), "the key is published at https://college.example/keys/1, which needs the network");
    let none = sign(&key, json!({"alg": "EdDSA"}), json!({"vc": credential("https://college.example/issuer")}));
    assert_eq!(verification_of(&none).2.unwrap(), "the JWS names no key of its own; the key is published at https://college.example/issuer, which needs the network");
    let unsigned = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&json!({"vc": credential("https://college.example")})));
    assert_eq!(verification_of(&unsigned).0, VerificationStatus::NotVerified);
    let hmac = sign(&key, json!({"alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}}), json!({"vc": credential("https://college.example")}));
    assert!(verification_of(&hmac).2.unwrap().contains("shared-secret"));
}

#[test]
fn a_jwk_in_the_header_verifies_but_says_it_is_not_bound_to_the_issuer() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes())});
    let token = sign(&key, json!({"alg": "EdDSA", "jwk": jwk}), json!({"vc": credential("https://college.example")}));
    let (status, _, reason) = verification_of(&token);
    assert_eq!(status, VerificationStatus::Verified);
    assert_eq!(reason.unwrap(), "the signature matches the key in the JWS header; nothing checked offline ties that key to the issuer");
    let short = sign(&key, json!({"alg": "EdDSA", "jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}}), json!({"vc": credential("https://x.example")}));
    assert_eq!(verification_of(&short).0, VerificationStatus::Failed);
}

#[test]
fn jwt_claims_are_checked_against_now_and_the_credential() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let did = did_key(&key);
    let vc = credential(&did);
    let token = sign(&key, json!({"alg": "EdDSA", "kid": did}), json!({"vc": vc, "iss": "did:key:zOther", "exp": 1600000000, "nbf": 4102444800i64}));
    let list = read(token.as_bytes()).unwrap();
    let rules: Vec<(Rule, &str)> = list[0].violations().iter().map(|v| (v.rule, v.path.as_str())).collect();
    assert_eq!(rules, [(Rule::NotYetValid, "jwt.nbf"), (Rule::Expired, "jwt.exp"), (Rule::ExpiresBeforeIssued, "jwt.exp"), (Rule::JwtClaimMismatch, "jwt.iss")]);
    assert!(list[0].records().is_empty());
}

#[test]
fn hand_made_credentials_break_one_rule_each() {
    let rules = |edit: &dyn Fn(&mut Value)| {
        let mut vc = credential("https://college.example");
        vc["proof"] = json!({"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", "verificationMethod": "did:key:z6Mk#z6Mk", "proofValue": "z1"});
        edit(&mut vc);
        let list = read(&serde_json::to_vec(&vc).unwrap()).unwrap();
        list[0].violations().iter().map(|v| (v.rule.as_str(), v.path.clone())).collect::<Vec<_>>()
    };
    assert_eq!(rules(&|_| {}), []);
    assert_eq!(rules(&|v| v["validFrom"] = json!("2026-06-20")), [("date.rfc3339", "$.validFrom".to_owned())]);
    assert_eq!(rules(&|v| drop(v.as_object_mut().unwrap().remove("validFrom"))), [("property.required", "$.validFrom".to_owned())]);
    assert_eq!(rules(&|v| v["validUntil"] = json!("2020-01-01T00:00:00Z")), [("credential.expired", "$.validUntil".to_owned()), ("credential.expires-before-issued", "$.validUntil".to_owned())]);
    assert_eq!(rules(&|v| v["@context"] = json!(["https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json", "https://www.w3.org/ns/credentials/v2"])),
        [("context.order", "$[\"@context\"][0]".to_owned()), ("context.order", "$[\"@context\"][1]".to_owned())]);
    assert_eq!(rules(&|v| v["issuer"] = json!("https://college.example")), [("property.type", "$.issuer".to_owned())]);
    assert_eq!(rules(&|v| drop(v["issuer"].as_object_mut().unwrap().remove("id"))), [("property.required", "$.issuer.id".to_owned())]);
    assert_eq!(rules(&|v| drop(v["credentialSubject"]["achievement"].as_object_mut().unwrap().remove("criteria"))),
        [("property.required", "$.credentialSubject.achievement.criteria".to_owned())]);
    assert_eq!(rules(&|v| v["credentialSubject"]["achievement"]["type"] = json!("Badge")), [("type.required", "$.credentialSubject.achievement.type".to_owned())]);
    assert_eq!(rules(&|v| drop(v["credentialSubject"].as_object_mut().unwrap().remove("id"))), [("credential-subject.id-or-identifier", "$.credentialSubject".to_owned())]);
    assert_eq!(rules(&|v| v["proof"]["verificationMethod"] = json!("key-1")), [("proof.verification-method", "$.proof.verificationMethod".to_owned())]);
    assert_eq!(rules(&|v| drop(v.as_object_mut().unwrap().remove("proof"))), [("proof.required", "$.proof".to_owned())]);
    assert_eq!(rules(&|v| v["@context"][0] = json!("https://www.w3.org/2018/credentials/v1")), [("property.required", "$.issuanceDate".to_owned())]);
}

#[test]
fn hostile_inputs_are_errors_not_panics() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(read(format!("{{\"a\": {deep}}}").as_bytes()).unwrap_err(), BadgeError::TooDeep { limit: 64 });
    let deep_payload = format!("eyJhbGciOiJFZERTQSJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(format!("{{\"vc\": {deep}}}")));
    assert!(matches!(read(deep_payload.as_bytes()), Err(BadgeError::TooDeep { .. })));
    let small = ReadLimits { max_input_bytes: 10, ..ReadLimits::STANDARD };
    assert_eq!(badges::read(&[b' '; 11], small, NOW).unwrap_err(), BadgeError::TooLarge { limit: 10 });
    for input in [&b""[..], b"{", b"[]", b"null", b"{}", b"\x89PNG\r\n\x1a\n", b"<svg", b"a.b.c", b"e30.e30.", b"e30.W10.", b"\xc3\x28"] {
        assert!(read(input).is_err(), "{:?}", String::from_utf8_lossy(input));
    }
    // Every byte of a few samples changed in turn: errors or readings, never a panic.
    if let Some(dir) = testdata() {
        for file in ["ob30/simple-jwt.png", "ob30/simple-jwt.svg", "ob30/simple.json", "ob20/simple-badge.png"] {
            let bytes = std::fs::read(dir.join("inspector-vc/src/test/resources").join(file)).unwrap();
            let step = (bytes.len() / 600).max(1);
            for at in (0..bytes.len()).step_by(step) {
                for flip in [0x01, 0x80, 0xff] {
                    let mut changed = bytes.clone();
                    changed[at] ^= flip;
                    let _ = read(&changed);
                }
            }
        }
    }
    // A CLR whose included credentials are not Open Badges: violations of the CLR, not errors of the read.
    let clr = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"],
        "type": ["VerifiableCredential", "ClrCredential"], "issuer": {"id": "https://x.example", "type": "Profile"},
        "validFrom": "2020-01-01T00:00:00Z", "name": "Relevé",
        "credentialSubject": {"type": "ClrSubject", "verifiableCredential": [42, "a.b.c", {"type": ["Assertion"], "@context": "https://w3id.org/openbadges/v2"}]},
        "proof": {"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", "verificationMethod": "https://x.example/k", "proofValue": "z1"}
    });
    let list = read(&serde_json::to_vec(&clr).unwrap()).unwrap();
    assert_eq!(list.len(), 1);
    let rules: Vec<&str> = list[0].violations().iter().map(|v| v.rule.as_str()).collect();
    assert_eq!(rules, ["clr.credential.format"; 3]);
    assert!(list[0].dedupe_key().starts_with("sha256:"));
    let many = ReadLimits { max_credentials: 1, ..ReadLimits::STANDARD };
    let mut one = clr.clone();
    one["credentialSubject"]["verifiableCredential"] = json!([credential("https://x.example")]);
    assert_eq!(badges::read(&serde_json::to_vec(&one).unwrap(), many, NOW).unwrap_err(), BadgeError::TooManyCredentials { limit: 1 });
}
