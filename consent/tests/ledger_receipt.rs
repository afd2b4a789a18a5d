//! Consent receipts: canonical JSON, and refusal of anything else.

use anyhow::Result;
use cartable_consent::ledger::{Actor, EventType, Receipt, ReceiptError, SCHEMA_VERSION, Validity};
use cartable_consent::{Action, Doctype, FamilyId, GrantId, LegalBasis, MemberId, RecordId, ServiceId};
use time::macros::datetime;
use uuid::Uuid;

fn uuid(n: u8) -> Uuid {
    Uuid::from_bytes([n; 16])
}

fn approval() -> Receipt {
    let mut r = Receipt::new(
        FamilyId::from_uuid(uuid(1)),
        EventType::Approve,
        Actor::Guardian(MemberId::from_uuid(uuid(2))),
        datetime!(2026-03-01 09:30:15.123456 +01:00),
    );
    r.receipt_id = uuid(9);
    r.principal = Some(MemberId::from_uuid(uuid(3)));
    r.service = Some(ServiceId::from_uuid(uuid(4)));
    r.grant = Some(GrantId::from_uuid(uuid(5)));
    r.purposes = vec!["suivi des devoirs".into()];
    r.legal_basis = Some(LegalBasis::Consent);
    r.data_categories = vec![Doctype::Homework, Doctype::Grades];
    r.validity =
        Some(Validity { from: datetime!(2026-03-01 08:30:15 UTC), until: Some(datetime!(2026-08-28 08:30:15 UTC)) });
    r.withdrawal = Some("cartable grants revoke".into());
    r
}

const APPROVAL_JSON: &str = concat!(
    r#"{"actor":{"id":"02020202-0202-0202-0202-020202020202","kind":"guardian"},"#,
    r#""data_categories":["edu.homework","edu.grades"],"event":"approve","#,
    r#""family":"01010101-0101-0101-0101-010101010101","grant":"05050505-0505-0505-0505-050505050505","#,
    r#""legal_basis":"consent","principal":"03030303-0303-0303-0303-030303030303","#,
    r#""purposes":["suivi des devoirs"],"receipt_id":"09090909-0909-0909-0909-090909090909","#,
    r#""schema_version":"cartable.receipt/1","service":"04040404-0404-0404-0404-040404040404","#,
    r#""time":"2026-03-01T08:30:15Z","validity":{"from":"2026-03-01T08:30:15Z","until":"2026-08-28T08:30:15Z"},"#,
    r#""withdrawal":"cartable grants revoke"}"#,
);

#[test]
fn canonical_bytes_are_sorted_compact_and_utc_to_the_second() -> Result<()> {
    let receipt = approval();
    assert_eq!(String::from_utf8(receipt.canonical_bytes())?, APPROVAL_JSON);
    assert_eq!(Receipt::from_canonical(APPROVAL_JSON.as_bytes())?, receipt);
    Ok(())
}

#[test]
fn access_and_system_receipts_round_trip() -> Result<()> {
    let mut denied = Receipt::new(
        FamilyId::new(),
        EventType::AccessDenied,
        Actor::Service(ServiceId::new()),
        datetime!(2026-03-02 10:00 UTC),
    );
    denied.action = Some(Action::Read);
    denied.resource = Some(RecordId::new());
    denied.data_categories = vec![Doctype::HealthPai];
    denied.reasons = vec!["forbid-health".into(), "grant-0190".into()];
    let bytes = denied.canonical_bytes();
    assert_eq!(Receipt::from_canonical(&bytes)?, denied);
    assert!(bytes.len() < 600, "a receipt is a few hundred bytes, got {}", bytes.len());

    let expired = Receipt::new(FamilyId::new(), EventType::Expire, Actor::System, datetime!(2026-03-02 10:00 UTC));
    let text = String::from_utf8(expired.canonical_bytes())?;
    assert!(text.contains(r#""actor":{"kind":"system"}"#), "{text}");
    assert!(text.contains(r#""purposes":[]"#) && text.contains(r#""data_categories":[]"#), "{text}");
    assert!(!text.contains("reasons") && !text.contains("null"), "{text}");
    assert_eq!(Receipt::from_canonical(text.as_bytes())?, expired);
    Ok(())
}

#[test]
fn strings_are_escaped_as_jcs_does() -> Result<()> {
    let mut r = approval();
    r.withdrawal = Some("tab\there \"quoted\" back\\slash \u{1} é / 😀".into());
    let text = String::from_utf8(r.canonical_bytes())?;
    assert!(text.contains(r#""withdrawal":"tab\there \"quoted\" back\\slash \u0001 é / 😀""#), "{text}");
    assert_eq!(Receipt::from_canonical(text.as_bytes())?, r);
    Ok(())
}

#[test]
fn non_canonical_and_unknown_inputs_are_refused() {
    let not_canonical = |text: String| match Receipt::from_canonical(text.as_bytes()) {
        Err(ReceiptError::NotCanonical) => {}
        other => panic!("{text} gave {other:?}"),
    };
    let invalid = |text: String| match Receipt::from_canonical(text.as_bytes()) {
        Err(ReceiptError::Json(_)) => {}
        other => panic!("{text} gave {other:?}"),
    };
    // Whitespace, key order, explicit nulls and empty optional lists.
    not_canonical(APPROVAL_JSON.replace(",\"event\"", ", \"event\""));
    not_canonical(format!("{APPROVAL_JSON}\n"));
    let without_event = APPROVAL_JSON.replace(r#""event":"approve","#, "");
    not_canonical(format!(r#"{{"event":"approve",{}"#, &without_event[1..]));
    not_canonical(APPROVAL_JSON.replace(r#","withdrawal""#, r#","reasons":[],"withdrawal""#));
    not_canonical(APPROVAL_JSON.replace(r#""purposes""#, r#""resource":null,"purposes""#));
    // Times not in UTC or with a fraction, and escapes where none is needed.
    not_canonical(APPROVAL_JSON.replace(r#""time":"2026-03-01T08:30:15Z""#, r#""time":"2026-03-01T09:30:15+01:00""#));
    not_canonical(APPROVAL_JSON.replace(r#""time":"2026-03-01T08:30:15Z""#, r#""time":"2026-03-01T08:30:15.000Z""#));
    not_canonical(APPROVAL_JSON.replace("cartable grants", "cartable\\u0020grants"));
    // Unknown fields, unknown values, another schema, duplicate keys.
    invalid(APPROVAL_JSON.replace(r#""withdrawal""#, r#""note":"x","withdrawal""#));
    invalid(APPROVAL_JSON.replace(r#""kind":"guardian""#, r#""kind":"guardian","name":"x""#));
    invalid(APPROVAL_JSON.replace("\"approve\"", "\"approved\""));
    invalid(APPROVAL_JSON.replace("edu.grades", "edu.secrets"));
    invalid(APPROVAL_JSON.replace(SCHEMA_VERSION, "cartable.receipt/2"));
    invalid(APPROVAL_JSON.replace(r#""event":"approve""#, r#""event":"approve","event":"deny""#));
    invalid(APPROVAL_JSON.replace(r#","schema_version":"cartable.receipt/1""#, ""));
    invalid("[]".into());
}

#[test]
fn event_type_names_are_the_serde_names() -> Result<()> {
    for event in EventType::ALL {
        assert_eq!(serde_json::to_string(&event)?, format!("\"{}\"", event.as_str()));
        assert_eq!(event.as_str().parse::<EventType>()?, event);
    }
    let err = "approved".parse::<EventType>().unwrap_err();
    assert_eq!(err.to_string(), "unknown event type `approved`");
    Ok(())
}
