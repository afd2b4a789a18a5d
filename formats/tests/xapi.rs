//! xAPI through the public API: the spec's own examples and a bulk of simulated statements from the shared test
//! data, hand-made statements that each break one rule, and hostile inputs.

use std::cell::Cell;
use std::collections::HashSet;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::rc::Rc;

use cartable_formats::xapi::{self, RawStatement, ReadError, ReadLimits, Rule};
use serde_json::{Value, json};

/// The shared xAPI test data (`$CARTABLE_TESTDATA/xapi`, else `../shared/testdata/xapi` beside the workspace), or
/// `None` with a message when it is not on this machine.
fn testdata() -> Option<PathBuf> {
    let root = match std::env::var_os("CARTABLE_TESTDATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"),
    };
    let dir = root.join("xapi");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: no xAPI test data at {} (set CARTABLE_TESTDATA to the shared testdata folder)", dir.display());
        None
    }
}

fn read_all(input: impl Read) -> Result<Vec<RawStatement>, ReadError> {
    let mut out = Vec::new();
    xapi::read_statements(input, ReadLimits::STANDARD, |s| {
        out.push(s);
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

fn rules_of(statement: Value) -> Vec<(Rule, String)> {
    match xapi::validate(statement) {
        Ok(_) => Vec::new(),
        Err(invalid) => invalid.violations.into_iter().map(|v| (v.rule, v.path)).collect(),
    }
}

fn minimal() -> Value {
    json!({
        "actor": {"objectType": "Agent", "mbox": "mailto:leo@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
        "object": {"id": "http://school.example/activities/fractions"}
    })
}

/// Where each example of the spec goes: a whole statement as it is, a fragment placed where the spec shows it.
enum Example {
    Statement,
    Actor,
    Verb,
    Object,
    /// An activity definition's properties (`{"definition": ...}` or a part of one).
    Definition,
    ContextActivities,
    Authority,
    /// Not xAPI data.
    Excluded(&'static str),
}

const EXAMPLES: [(&str, Example); 29] = [
    ("01_", Example::Statement),
    ("02_", Example::Statement),
    ("03_", Example::Actor),
    ("04_", Example::Verb),
    ("05_", Example::Statement),
    ("06_", Example::Statement),
    ("07_", Example::ContextActivities),
    ("08_", Example::Statement),
    ("09_", Example::Statement),
    ("10_", Example::Object),
    ("11_", Example::Object),
    ("12_", Example::Object),
    ("13_", Example::Object),
    ("14_", Example::Statement),
    ("15_", Example::Excluded("the JWS header of the signed-statement example (alg and x5c), not a statement")),
    ("16_", Example::Statement),
    // 17 and 18 are fragments: a definition's response pattern, and an authority (three-legged OAuth).
    ("17_", Example::Definition),
    ("18_", Example::Authority),
    ("19_", Example::Statement),
    ("20_", Example::Definition),
    ("21_", Example::Definition),
    ("22_", Example::Definition),
    ("23_", Example::Definition),
    ("24_", Example::Definition),
    ("25_", Example::Definition),
    ("26_", Example::Definition),
    ("27_", Example::Definition),
    ("28_", Example::Definition),
    ("29_", Example::Definition),
];

fn placed(example: &Example, fragment: Value) -> Option<Value> {
    let mut statement = minimal();
    match example {
        Example::Statement => return Some(fragment),
        Example::Actor => statement["actor"] = fragment,
        Example::Verb => statement["verb"] = fragment,
        Example::Object => statement["object"] = fragment,
        Example::Definition => {
            let definition = fragment.get("definition").cloned().unwrap_or(fragment);
            statement["object"]["definition"] = definition;
        }
        Example::ContextActivities => statement["context"] = json!({"contextActivities": fragment}),
        Example::Authority => statement["authority"] = fragment["authority"].clone(),
        Example::Excluded(_) => return None,
    }
    Some(statement)
}

#[test]
fn every_example_of_the_spec_validates_where_it_belongs() {
    let Some(dir) = testdata() else { return };
    let mut files: Vec<_> = std::fs::read_dir(dir.join("xapi-spec/examples")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), EXAMPLES.len(), "an example was added or removed: place it in EXAMPLES");
    let mut statements = 0;
    for (file, (prefix, example)) in files.iter().zip(&EXAMPLES) {
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(name.starts_with(prefix), "{name} is not {prefix}");
        let read = read_all(std::fs::File::open(file).unwrap()).unwrap();
        assert_eq!(read.len(), 1, "{name}");
        if let Example::Excluded(why) = example {
            eprintln!("{name} excluded: {why}");
            continue;
        }
        let statement = placed(example, read.into_iter().next().unwrap().value).unwrap();
        statements += matches!(example, Example::Statement) as usize;
        let valid = xapi::validate(statement).unwrap_or_else(|e| panic!("{name}: {:#?}", e.violations));
        assert_eq!(valid.records()[0].doctype, "edu.activity");
    }
    assert_eq!(statements, 9);
}

#[test]
fn the_spec_statements_read_the_same_as_one_array_and_as_json_lines() {
    let Some(dir) = testdata() else { return };
    let mut statements = Vec::new();
    for (prefix, example) in &EXAMPLES {
        if !matches!(example, Example::Statement) {
            continue;
        }
        let file = std::fs::read_dir(dir.join("xapi-spec/examples")).unwrap().map(|e| e.unwrap().path()).find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix)).unwrap();
        statements.push(serde_json::from_slice::<Value>(&std::fs::read(file).unwrap()).unwrap());
    }
    let pretty_array = serde_json::to_string_pretty(&statements).unwrap();
    let lines: String = statements.iter().map(|s| format!("{s}\n")).collect();
    for input in [pretty_array.as_str(), lines.as_str()] {
        let read = read_all(input.as_bytes()).unwrap();
        assert_eq!(read.iter().map(|r| &r.value).collect::<Vec<_>>(), statements.iter().collect::<Vec<_>>());
        assert!(read.into_iter().all(|r| r.validate().is_ok()));
    }
    let read = read_all(lines.as_bytes()).unwrap();
    assert_eq!(read.iter().map(|r| r.position.line).collect::<Vec<_>>(), (1..=statements.len() as u64).collect::<Vec<_>>());
}

#[test]
fn the_simulated_statements_all_parse_and_validate() {
    let Some(dir) = testdata() else { return };
    let statements = dir.join("yetanalytics-datasim/dev-resources/xapi/statements");
    for (file, count) in [("array/tccc_dev.json", 2814), ("simple.json", 1), ("long.json", 1)] {
        let mut keys = HashSet::new();
        let mut grades = 0;
        let mut next = 0;
        let handed = xapi::read_statements(std::fs::File::open(statements.join(file)).unwrap(), ReadLimits::STANDARD, |raw| {
            assert_eq!(raw.position.index, next, "{file}: statements come in order");
            next += 1;
            let line = raw.position.line;
            let valid = raw.validate().unwrap_or_else(|e| panic!("{file} at line {line}: {:#?}", e.violations));
            keys.insert(valid.dedupe_key());
            grades += valid.records().iter().filter(|r| r.doctype == "edu.grades").count();
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(handed, count, "{file}");
        assert_eq!(keys.len() as u64, count, "{file}: every statement has its own id");
        // Its 70 `completed` statements carry no score, and its scored likert answers are `interacted`.
        assert_eq!(grades, 0, "{file}");
    }
}

#[test]
fn the_simulated_array_reports_each_statements_line() {
    let Some(dir) = testdata() else { return };
    let path = dir.join("yetanalytics-datasim/dev-resources/xapi/statements/array/tccc_dev.json");
    let read = read_all(std::fs::File::open(&path).unwrap()).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for statement in [&read[0], &read[1], &read[2813]] {
        let line = lines[statement.position.line as usize - 1];
        assert_eq!(line.trim(), "{", "line {} opens statement {}", statement.position.line, statement.position.index);
        let id = statement.value["id"].as_str().unwrap();
        assert!(lines[statement.position.line as usize].contains(id), "the next line holds the id {id}");
    }
}

type Change = fn(&mut Value);
/// A name, how the minimal statement is broken, and what must be reported (rule and path), in order.
type Case = (&'static str, Change, Vec<(Rule, &'static str)>);

fn remove(statement: &mut Value, key: &str) {
    statement.as_object_mut().unwrap().remove(key);
}

#[test]
fn each_broken_rule_is_reported_with_its_path() {
    let cases: Vec<Case> = vec![
        ("no actor", |s| remove(s, "actor"), vec![(Rule::StatementActorRequired, "$.actor")]),
        ("no verb", |s| remove(s, "verb"), vec![(Rule::StatementVerbRequired, "$.verb")]),
        ("no object", |s| remove(s, "object"), vec![(Rule::StatementObjectRequired, "$.object")]),
        ("id not a UUID", |s| s["id"] = json!("statement-1"), vec![(Rule::UuidFormat, "$.id")]),
        ("id as a number", |s| s["id"] = json!(12), vec![(Rule::PropertyType, "$.id")]),
        ("two identifiers", |s| s["actor"]["openid"] = json!("http://openid.example.org/leo"), vec![(Rule::AgentIfiExactlyOne, "$.actor")]),
        ("no identifier", |s| s["actor"] = json!({"name": "Léo"}), vec![(Rule::AgentIfiExactlyOne, "$.actor")]),
        ("mbox without mailto", |s| s["actor"]["mbox"] = json!("leo@example.org"), vec![(Rule::MboxMailto, "$.actor.mbox")]),
        ("short sha1", |s| s["actor"] = json!({"mbox_sha1sum": "ebd31e95"}), vec![(Rule::MboxSha1sumHex, "$.actor.mbox_sha1sum")]),
        (
            "account without name, relative home page",
            |s| s["actor"] = json!({"account": {"homePage": "www.example.com"}}),
            vec![(Rule::IriAbsolute, "$.actor.account.homePage"), (Rule::PropertyRequired, "$.actor.account.name")],
        ),
        ("anonymous group without members", |s| s["actor"] = json!({"objectType": "Group"}), vec![(Rule::GroupAnonymousMemberRequired, "$.actor.member")]),
        (
            "a group inside a group",
            |s| s["actor"] = json!({"objectType": "Group", "member": [{"objectType": "Group", "mbox": "mailto:g@example.org"}]}),
            vec![(Rule::GroupMemberAgentOnly, "$.actor.member[0]")],
        ),
        (
            "identified group with two identifiers",
            |s| s["actor"] = json!({"objectType": "Group", "mbox": "mailto:g@example.org", "openid": "http://g.example.org"}),
            vec![(Rule::GroupIfiAtMostOne, "$.actor")],
        ),
        (
            "members without objectType",
            |s| s["actor"] = json!({"member": [{"mbox": "mailto:a@example.org"}]}),
            vec![(Rule::ObjectTypeRequired, "$.actor.objectType")],
        ),
        (
            "member without an identifier",
            |s| s["actor"] = json!({"objectType": "Group", "member": [{"name": "?"}]}),
            vec![(Rule::AgentIfiExactlyOne, "$.actor.member[0]")],
        ),
        ("actor objectType Person", |s| s["actor"]["objectType"] = json!("Person"), vec![(Rule::ObjectTypeValue, "$.actor.objectType")]),
        ("objectType in the wrong case", |s| s["actor"]["objectType"] = json!("agent"), vec![(Rule::ObjectTypeValue, "$.actor.objectType")]),
        ("verb id without scheme", |s| s["verb"]["id"] = json!("completed"), vec![(Rule::IriAbsolute, "$.verb.id")]),
        ("verb without id", |s| remove(&mut s["verb"], "id"), vec![(Rule::PropertyRequired, "$.verb.id")]),
        ("display key not a tag", |s| s["verb"]["display"] = json!({"en_US": "completed"}), vec![(Rule::LanguageTagRfc5646, "$.verb.display.en_US")]),
        ("display value not a string", |s| s["verb"]["display"] = json!({"en": 1}), vec![(Rule::PropertyType, "$.verb.display.en")]),
        ("activity without id", |s| s["object"] = json!({"definition": {}}), vec![(Rule::PropertyRequired, "$.object.id")]),
        ("agent object without objectType", |s| s["object"] = json!({"mbox": "mailto:zoe@example.org"}), vec![(Rule::ObjectTypeRequired, "$.object.objectType")]),
        ("object of an unknown type", |s| s["object"]["objectType"] = json!("Thing"), vec![(Rule::ObjectTypeValue, "$.object.objectType")]),
        ("statement ref without a UUID", |s| s["object"] = json!({"objectType": "StatementRef", "id": "http://x/1"}), vec![(Rule::UuidFormat, "$.object.id")]),
        (
            "nested substatement",
            |s| {
                let mut sub = minimal();
                sub["objectType"] = json!("SubStatement");
                sub["object"] = json!({"objectType": "SubStatement"});
                s["object"] = sub;
            },
            vec![(Rule::SubStatementNested, "$.object.object")],
        ),
        (
            "substatement with id, stored and a bad verb",
            |s| {
                let mut sub = minimal();
                sub["objectType"] = json!("SubStatement");
                sub["id"] = json!("7ccd3322-e1a5-411a-a67d-6a735c76f119");
                sub["stored"] = json!("2024-01-01T00:00:00Z");
                sub["verb"]["id"] = json!("visited");
                s["object"] = sub;
            },
            vec![
                (Rule::SubStatementForbiddenProperty, "$.object.id"),
                (Rule::SubStatementForbiddenProperty, "$.object.stored"),
                (Rule::IriAbsolute, "$.object.verb.id"),
            ],
        ),
        ("scaled above 1", |s| s["result"] = json!({"score": {"scaled": 1.5}}), vec![(Rule::ScoreScaledRange, "$.result.score.scaled")]),
        ("min equal to max", |s| s["result"] = json!({"score": {"min": 10, "max": 10}}), vec![(Rule::ScoreMinBelowMax, "$.result.score.min")]),
        ("raw above max", |s| s["result"] = json!({"score": {"raw": 21, "min": 0, "max": 20}}), vec![(Rule::ScoreRawRange, "$.result.score.raw")]),
        ("raw below min", |s| s["result"] = json!({"score": {"raw": -1, "min": 0}}), vec![(Rule::ScoreRawRange, "$.result.score.raw")]),
        ("score as a string", |s| s["result"] = json!({"score": {"raw": "15"}}), vec![(Rule::PropertyType, "$.result.score.raw")]),
        ("duration in words", |s| s["result"] = json!({"duration": "1 hour"}), vec![(Rule::DurationIso8601, "$.result.duration")]),
        ("success as a string", |s| s["result"] = json!({"success": "true"}), vec![(Rule::PropertyType, "$.result.success")]),
        ("30 February", |s| s["timestamp"] = json!("2024-02-30T10:00:00Z"), vec![(Rule::TimestampIso8601, "$.timestamp")]),
        ("offset -00:00", |s| s["timestamp"] = json!("2024-02-01T10:00:00-00:00"), vec![(Rule::TimestampIso8601, "$.timestamp")]),
        ("stored in words", |s| s["stored"] = json!("yesterday"), vec![(Rule::TimestampIso8601, "$.stored")]),
        ("version 0.95", |s| s["version"] = json!("0.95"), vec![(Rule::VersionFormat, "$.version")]),
        (
            "revision and platform about an agent",
            |s| {
                s["object"] = json!({"objectType": "Agent", "mbox": "mailto:zoe@example.org"});
                s["context"] = json!({"revision": "2", "platform": "Moodle"});
            },
            vec![(Rule::ContextRevisionActivityOnly, "$.context.revision"), (Rule::ContextPlatformActivityOnly, "$.context.platform")],
        ),
        ("team as an agent", |s| s["context"] = json!({"team": {"mbox": "mailto:t@example.org"}}), vec![(Rule::ContextTeamGroup, "$.context.team")]),
        (
            "unknown kind of context activity",
            |s| s["context"] = json!({"contextActivities": {"sibling": [{"id": "http://x/a"}]}}),
            vec![(Rule::ContextActivitiesKey, "$.context.contextActivities.sibling")],
        ),
        (
            "context activity without id",
            |s| s["context"] = json!({"contextActivities": {"parent": {"definition": {}}}}),
            vec![(Rule::PropertyRequired, "$.context.contextActivities.parent.id")],
        ),
        (
            "context statement that is not a reference",
            |s| s["context"] = json!({"statement": {"id": "7ccd3322-e1a5-411a-a67d-6a735c76f119"}}),
            vec![(Rule::ContextStatementRef, "$.context.statement.objectType")],
        ),
        ("context language in words", |s| s["context"] = json!({"language": "french please"}), vec![(Rule::LanguageTagRfc5646, "$.context.language")]),
        ("registration not a UUID", |s| s["context"] = json!({"registration": "r1"}), vec![(Rule::UuidFormat, "$.context.registration")]),
        ("extension key without scheme", |s| s["result"] = json!({"extensions": {"attempt": 1}}), vec![(Rule::IriAbsolute, "$.result.extensions.attempt")]),
        ("null outside extensions", |s| s["result"] = json!({"response": null, "extensions": {"http://x/e": null}}), vec![(Rule::PropertyNull, "$.result.response")]),
        ("unknown property", |s| s["mood"] = json!("happy"), vec![(Rule::PropertyUnknown, "$.mood")]),
        (
            "a key in the wrong case",
            |s| {
                let actor = s.as_object_mut().unwrap().remove("actor").unwrap();
                s["Actor"] = actor;
            },
            vec![(Rule::PropertyUnknown, "$.Actor"), (Rule::StatementActorRequired, "$.actor")],
        ),
        ("unknown interaction type", |s| s["object"]["definition"] = json!({"interactionType": "essay"}), vec![(Rule::InteractionType, "$.object.definition.interactionType")]),
        (
            "choices on a true-false",
            |s| s["object"]["definition"] = json!({"interactionType": "true-false", "choices": [{"id": "a"}]}),
            vec![(Rule::InteractionComponentsUnsupported, "$.object.definition.choices")],
        ),
        (
            "choices twice the same",
            |s| s["object"]["definition"] = json!({"interactionType": "choice", "choices": [{"id": "a"}, {"id": "a"}]}),
            vec![(Rule::InteractionComponentIdsDistinct, "$.object.definition.choices[1].id")],
        ),
        (
            "authority group of three",
            |s| s["authority"] = json!({"objectType": "Group", "member": [{"mbox": "mailto:a@x.org"}, {"mbox": "mailto:b@x.org"}, {"mbox": "mailto:c@x.org"}]}),
            vec![(Rule::AuthorityGroupTwoAgents, "$.authority")],
        ),
        (
            "attachment without sha2, with a fractional length and a bad type",
            |s| s["attachments"] = json!([{"usageType": "http://adlnet.gov/expapi/attachments/signature", "display": {"en": "sig"}, "contentType": "pdf", "length": 1.5}]),
            vec![
                (Rule::AttachmentContentType, "$.attachments[0].contentType"),
                (Rule::AttachmentLength, "$.attachments[0].length"),
                (Rule::PropertyRequired, "$.attachments[0].sha2"),
            ],
        ),
        (
            "2.0 context agent holding a group",
            |s| s["context"] = json!({"contextAgents": [{"objectType": "contextAgent", "agent": {"objectType": "Group", "mbox": "mailto:g@x.org"}}]}),
            vec![(Rule::PropertyType, "$.context.contextAgents[0].agent")],
        ),
    ];
    for (name, change, expected) in cases {
        let mut statement = minimal();
        change(&mut statement);
        let expected: Vec<(Rule, String)> = expected.into_iter().map(|(rule, path)| (rule, path.to_owned())).collect();
        assert_eq!(rules_of(statement), expected, "{name}");
    }
}

#[test]
fn every_violation_of_one_statement_is_reported_with_a_sentence() {
    let statement = json!({
        "id": "nope",
        "actor": {"mbox": "leo@example.org", "openid": "openid"},
        "verb": {"id": "done"},
        "object": {"id": "http://x/a"},
        "result": {"score": {"scaled": -2, "raw": 30, "max": 20}},
        "timestamp": "today"
    });
    let invalid = xapi::validate(statement.clone()).unwrap_err();
    let rules: Vec<&str> = invalid.violations.iter().map(|v| v.rule.as_str()).collect();
    assert_eq!(
        rules,
        [
            "uuid.format",
            "mbox.mailto",
            "iri.absolute",
            "agent.ifi.exactly-one",
            "iri.absolute",
            "result.score.scaled.range",
            "result.score.raw.range",
            "timestamp.iso8601"
        ]
    );
    assert_eq!(invalid.statement, statement, "the statement is given back");
    assert!(invalid.violations.iter().all(|v| !v.message.is_empty() && !v.message.ends_with('.')));
    assert_eq!(invalid.violations[0].message, "`nope` is not a UUID in standard form (8-4-4-4-12 hexadecimal digits)");
    assert_eq!(invalid.to_string(), "the statement breaks 8 rule(s) of xAPI, first `uuid.format` at `$.id`");
}

#[test]
fn a_property_given_twice_is_reported_by_the_reader() {
    let input = br#"{"actor": {"mbox": "mailto:a@x.org", "mbox": "mailto:b@x.org"}, "verb": {"id": "http://x/v"}, "object": {"id": "http://x/o"}, "verb": {"id": "http://x/w"}}"#;
    let raw = read_all(&input[..]).unwrap().remove(0);
    assert_eq!(raw.repeated_keys, ["$.actor.mbox", "$.verb"]);
    assert_eq!(raw.value["verb"]["id"], "http://x/w", "the last one is kept");
    assert!(xapi::validate(raw.value.clone()).is_ok(), "a Value cannot show them");
    let rules: Vec<(Rule, String)> = raw.validate().unwrap_err().violations.into_iter().map(|v| (v.rule, v.path)).collect();
    assert_eq!(rules, [(Rule::PropertyRepeated, "$.actor.mbox".to_owned()), (Rule::PropertyRepeated, "$.verb".to_owned())]);
}

#[test]
fn values_that_are_not_objects_are_not_statements() {
    let read = read_all(&br#"[1, "x", null, [], {}]"#[..]).unwrap();
    let rules: Vec<Vec<(Rule, String)>> = read.into_iter().map(|s| rules_of(s.value)).collect();
    for not_object in &rules[..4] {
        assert_eq!(not_object, &[(Rule::StatementNotObject, "$".to_owned())]);
    }
    assert_eq!(rules[4].len(), 3, "an empty object lacks actor, verb and object");
}

#[test]
fn nesting_past_128_levels_is_a_clear_error() {
    let deep_array = "[".repeat(100_000);
    assert!(matches!(read_all(deep_array.as_bytes()), Err(ReadError::TooDeep { index: 0, line: 1, .. })));

    let statement = minimal().to_string();
    let deep_extension = format!("{}{}{}", "{\"a\":".repeat(200), "1", "}".repeat(200));
    let lines = format!("{statement}\n{{\"result\": {{\"extensions\": {{\"http://x/e\": {deep_extension}}}}}}}\n");
    let mut handed = 0;
    let err = xapi::read_statements(lines.as_bytes(), ReadLimits::STANDARD, |_| {
        handed += 1;
        ControlFlow::Continue(())
    })
    .unwrap_err();
    assert!(matches!(err, ReadError::TooDeep { index: 1, line: 2, .. }), "{err:?}");
    assert_eq!(handed, 1, "the statement before is handed out");
    assert_eq!(err.to_string().split(" at ").next().unwrap(), "statement 1 is nested deeper than 128 levels");

    // 127 levels inside the statement is within the limit.
    let fits = format!("{}{}{}", "{\"a\":".repeat(127), "1", "}".repeat(127));
    assert_eq!(read_all(fits.as_bytes()).unwrap().len(), 1);
}

#[test]
fn invalid_utf8_is_an_error_with_its_position() {
    let mut input = b"[\n{\"actor\": {\"name\": \"L".to_vec();
    input.extend_from_slice(&[0xC3, 0x28]);
    input.extend_from_slice(b"o\"}}\n]");
    let err = read_all(&input[..]).unwrap_err();
    assert!(matches!(err, ReadError::Malformed { index: 0, line: 2, .. }), "{err:?}");

    let err = read_all(&b"{\"a\": 1}\n\xFF\xFE"[..]).unwrap_err();
    assert!(matches!(err, ReadError::Malformed { index: 1, line: 2, column: 1, .. }), "{err:?}");
}

#[test]
fn a_truncated_input_is_an_error_after_the_statements_before_it() {
    let statement = minimal().to_string();
    let input = format!("[{statement},\n{statement},\n{}", &statement[..statement.len() / 2]);
    let mut handed = 0;
    let err = xapi::read_statements(input.as_bytes(), ReadLimits::STANDARD, |_| {
        handed += 1;
        ControlFlow::Continue(())
    })
    .unwrap_err();
    assert!(matches!(err, ReadError::Truncated { index: 2, line: 3, .. }), "{err:?}");
    assert_eq!(handed, 2);
    assert!(matches!(read_all(&b"[{}"[..]), Err(ReadError::Truncated { index: 1, .. })));
}

#[test]
fn every_prefix_and_every_byte_flip_of_a_statement_is_handled_without_panic() {
    let statement = serde_json::to_vec_pretty(&json!({
        "id": "7ccd3322-e1a5-411a-a67d-6a735c76f119",
        "actor": {"objectType": "Group", "member": [{"mbox": "mailto:a@x.org"}, {"account": {"homePage": "http://x.org", "name": "b"}}]},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/passed", "display": {"fr-FR": "a réussi"}},
        "object": {"objectType": "SubStatement", "actor": {"mbox": "mailto:a@x.org"}, "verb": {"id": "http://x/v"}, "object": {"id": "http://x/o"}},
        "result": {"score": {"raw": 15, "min": 0, "max": 20, "scaled": 0.75}, "duration": "PT1H2M3.5S"},
        "context": {"contextActivities": {"parent": {"id": "http://x/p"}}, "language": "fr-FR"},
        "timestamp": "2026-11-20T09:30:00.000+01:00"
    }))
    .unwrap();
    let array: Vec<u8> = [b"[".as_slice(), &statement, b",", &statement, b"]"].concat();
    let mut outcomes = [0usize; 3];
    let mut each = |input: &[u8]| {
        let result = xapi::read_statements(input, ReadLimits::STANDARD, |raw| {
            if let Ok(valid) = xapi::validate(raw.value) {
                valid.records();
                valid.dedupe_key();
            }
            ControlFlow::Continue(())
        });
        outcomes[match result {
            Ok(_) => 0,
            Err(ReadError::Truncated { .. }) => 1,
            Err(_) => 2,
        }] += 1;
    };
    for end in 0..array.len() {
        each(&array[..end]);
    }
    for at in 0..array.len() {
        for byte in [b'"', b'{', b']', b'0', 0xFF, b'\n'] {
            let mut flipped = array.clone();
            flipped[at] = byte;
            each(&flipped);
        }
    }
    assert!(outcomes.iter().all(|n| *n > 0), "{outcomes:?}");
}

/// An input made as it is read, counting the bytes it has given.
struct Generated {
    statement: Vec<u8>,
    count: u64,
    produced: u64,
    pending: Vec<u8>,
    given: Rc<Cell<u64>>,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            if self.produced == 0 {
                self.pending.push(b'[');
            }
            if self.produced < self.count {
                if self.produced > 0 {
                    self.pending.extend_from_slice(b",\n");
                }
                self.pending.extend_from_slice(&self.statement);
                self.produced += 1;
                if self.produced == self.count {
                    self.pending.push(b']');
                }
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        self.given.set(self.given.get() + n as u64);
        Ok(n)
    }
}

#[test]
fn a_large_array_is_read_one_statement_at_a_time() {
    const COUNT: u64 = 200_000;
    let statement = json!({"actor": {"mbox": "mailto:a@x.org"}, "verb": {"id": "http://x/v"}, "object": {"id": "http://x/o"}}).to_string().into_bytes();
    let total = 2 + COUNT * (statement.len() as u64 + 2) - 2;
    let given = Rc::new(Cell::new(0));
    let input = Generated { statement: statement.clone(), count: COUNT, produced: 0, pending: Vec::new(), given: given.clone() };
    let mut next = 0;
    let mut most_ahead = 0;
    let handed = xapi::read_statements(input, ReadLimits::STANDARD, |raw| {
        assert_eq!(raw.position.index, next);
        assert_eq!(raw.position.line, next + 1);
        if next == 0 {
            assert!(given.get() < total / 100, "the first statement comes before the input is read ({} of {total} bytes)", given.get());
        }
        // What is read and not yet handed out stays within the reader's buffer (64 KiB) and one statement.
        let consumed = (next + 1) * (statement.len() as u64 + 2);
        most_ahead = most_ahead.max(given.get().saturating_sub(consumed));
        next += 1;
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(handed, COUNT);
    assert_eq!(given.get(), total);
    assert!(most_ahead <= 64 * 1024 + statement.len() as u64, "read ahead by {most_ahead} bytes");
}

#[test]
fn one_oversized_statement_is_refused_and_the_others_are_kept() {
    let small = minimal().to_string();
    let mut big = minimal();
    big["result"] = json!({"response": "x".repeat(2 * 1024 * 1024)});
    let input = format!("{small}\n{big}\n{small}\n");
    let mut handed = 0;
    let err = xapi::read_statements(input.as_bytes(), ReadLimits::STANDARD, |_| {
        handed += 1;
        ControlFlow::Continue(())
    })
    .unwrap_err();
    assert!(matches!(err, ReadError::TooLarge { index: 1, limit: 1_048_576 }), "{err:?}");
    assert_eq!(handed, 1);
}
