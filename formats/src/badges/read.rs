//! From bytes to credentials: unbake, parse, tell the format, check the rules, check the signature when possible.

use serde_json::Value;
use time::OffsetDateTime;

use super::credential::{Credential, Format};
use super::input::{self, BadgeError, Container, Payload, ReadLimits, check_depth, is_compact_jws};
use super::jws::{self, Jws, KeyHint, unresolvable};
use super::validate::{Check, Rule, Vc, Violation, contexts, has_type, is_clr2_context, is_ob2_context, is_ob3_context, types, VCDM_1, VCDM_2};
use super::verification::Verification;

/// Types of documents that come with badges but award nothing to anyone.
const NOT_AWARDS: &[&str] = &[
    "EndorsementCredential",
    "BitstringStatusListCredential",
    "StatusList2021Credential",
    "BadgeClass",
    "Issuer",
    "Profile",
    "Endorsement",
    "CryptographicKey",
    "RevocationList",
    "Achievement",
    "Extension",
];

/// Reads the credentials of one input: an Open Badges 2.0 Assertion, an Open Badges 3.0 credential or a CLR 2.0
/// credential, as JSON, as a compact JWS (VC-JWT), or baked into a PNG or an SVG. A CLR gives itself first, then
/// each credential it includes, in order, with [`Credential::part_of`] naming it.
///
/// Dates are checked against `now`; this crate reads no clock. Nothing is fetched: a key, a context or a hosted
/// assertion that only the network has leaves the credential `not_verified`, with the reason.
pub fn read(input: &[u8], limits: ReadLimits, now: OffsetDateTime) -> Result<Vec<Credential>, BadgeError> {
    let (container, payload) = input::unwrap(input, limits)?;
    let (value, jws) = match payload {
        Payload::Json(text) => (parse_json(&text, limits.max_json_depth)?, None),
        Payload::Jws(compact) => {
            let jws = jws::parse(&compact, limits.max_json_depth)?;
            (credential_of(&jws)?, Some(jws))
        }
    };
    let mut out = vec![build(value, jws, container, now, None)?];
    if out[0].format == Format::Clr2 {
        include_parts(&mut out, limits, now)?;
    }
    Ok(out)
}

fn parse_json(text: &str, max_depth: u32) -> Result<Value, BadgeError> {
    check_depth(text, max_depth)?;
    serde_json::from_str(text).map_err(|e| BadgeError::Malformed { reason: e.to_string() })
}

/// The credential a JWS carries: its `vc` claim (VC-JWT of VCDM 1.1), else the payload itself (VCDM 2.0's
/// `vc+jwt`, and OB 2.0's signed assertions).
fn credential_of(jws: &Jws) -> Result<Value, BadgeError> {
    match &jws.payload["vc"] {
        vc @ Value::Object(_) => Ok(vc.clone()),
        _ => Ok(jws.payload.clone()),
    }
}

/// Which specification `value` follows, from its types and then its contexts; a document that awards nothing
/// (a BadgeClass, an endorsement, a status list) is refused.
fn classify(value: &Value) -> Result<Format, BadgeError> {
    if !value.is_object() {
        return Err(BadgeError::Unrecognised { reason: "the JSON is not an object".into() });
    }
    let types = types(value);
    if types.contains(&"ClrCredential") {
        return Ok(Format::Clr2);
    }
    if types.iter().any(|t| ["OpenBadgeCredential", "AchievementCredential"].contains(t)) {
        return Ok(Format::Ob3);
    }
    if types.iter().any(|t| ["Assertion", "obi:Assertion", "https://w3id.org/openbadges#Assertion"].contains(t)) {
        return Ok(Format::Ob2);
    }
    if let Some(kind) = types.iter().find(|t| NOT_AWARDS.contains(t)) {
        return Err(BadgeError::NotAnAward { kind: (*kind).to_owned() });
    }
    let contexts = contexts(value);
    if contexts.iter().any(|c| is_clr2_context(c)) {
        Ok(Format::Clr2)
    } else if contexts.iter().any(|c| is_ob3_context(c)) {
        Ok(Format::Ob3)
    } else if contexts.iter().any(|c| is_ob2_context(c)) {
        Ok(Format::Ob2)
    } else if contexts.iter().any(|c| *c == VCDM_1 || *c == VCDM_2) {
        Err(BadgeError::NotAnAward { kind: types.first().copied().unwrap_or("VerifiableCredential").chars().take(100).collect() })
    } else {
        Err(BadgeError::Unrecognised { reason: "no Open Badges, CLR or Verifiable Credentials context or type".into() })
    }
}

fn build(value: Value, jws: Option<Jws>, container: Container, now: OffsetDateTime, part_of: Option<String>) -> Result<Credential, BadgeError> {
    let format = classify(&value)?;
    let mut check = Check::new(now);
    match format {
        Format::Ob2 => check.ob2(&value),
        Format::Ob3 => check.vc(&value, Vc::Badge, jws.is_some()),
        Format::Clr2 => check.vc(&value, Vc::Clr, jws.is_some()),
    }
    if let (Some(jws), Format::Ob3 | Format::Clr2) = (&jws, format) {
        jwt_claims(&jws.payload, &value, &mut check);
    }
    let issuer_id = match &value["issuer"] {
        Value::String(id) => Some(id.as_str()),
        issuer => issuer["id"].as_str(),
    };
    let verification = match (&jws, format) {
        (Some(jws), Format::Ob2) => jws.verify(KeyHint { creator: value["verification"]["creator"].as_str(), issuer_id: None }),
        (Some(jws), _) => jws.verify(KeyHint { creator: None, issuer_id }),
        (None, Format::Ob2) => ob2_verification(&value),
        (None, _) => proof_verification(&value),
    };
    Ok(Credential {
        format,
        container,
        jws: jws.map(|j| j.compact),
        value,
        violations: check.found,
        verification,
        part_of,
        parts: Vec::new(),
    })
}

/// A VC-JWT's registered claims: `exp` and `nbf` around `now`, and `iss`, `jti`, `sub` the same as the credential's.
fn jwt_claims(payload: &Value, vc: &Value, check: &mut Check) {
    let at = |claim: &str| -> Option<OffsetDateTime> { OffsetDateTime::from_unix_timestamp(payload[claim].as_i64()?).ok() };
    for claim in ["exp", "nbf"] {
        if !payload[claim].is_null() && at(claim).is_none() {
            check.report(Rule::PropertyType, &format!("jwt.{claim}"), format!("`{claim}` is a NumericDate (whole seconds)"));
        }
    }
    check.window(at("nbf"), at("exp"), "jwt.nbf", "jwt.exp");
    let pairs = [("iss", &vc["issuer"]["id"]), ("jti", &vc["id"]), ("sub", &vc["credentialSubject"]["id"])];
    for (claim, expected) in pairs {
        let expected = if claim == "iss" && vc["issuer"].is_string() { &vc["issuer"] } else { expected };
        if let (Some(claimed), Some(expected)) = (payload[claim].as_str(), expected.as_str())
            && claimed != expected
        {
            check.report(Rule::JwtClaimMismatch, &format!("jwt.{claim}"), format!("the `{claim}` claim is not the credential's `{expected}`"));
        }
    }
}

fn ob2_verification(assertion: &Value) -> Verification {
    let verification = &assertion["verification"];
    if has_type(verification, "hosted") || has_type(verification, "HostedBadge") {
        let id: String = assertion["id"].as_str().unwrap_or("its id").chars().take(300).collect();
        Verification::not_verified("hosted", format!("hosted verification fetches the assertion from {id}, which needs the network"))
    } else if has_type(verification, "signed") || has_type(verification, "SignedBadge") {
        Verification::not_verified("signed", "a signed assertion is checked on its JWS, and this is its JSON without one")
    } else {
        Verification::not_verified("none", "the assertion names no verification method")
    }
}

/// Embedded proofs: Data Integrity needs the JSON-LD canonicalisation of the credential with its contexts, which
/// this reader does not do offline, so the outcome says so, and where the key is when that needs the network too.
fn proof_verification(vc: &Value) -> Verification {
    let proofs: Vec<&Value> = match &vc["proof"] {
        Value::Array(list) => list.iter().filter(|p| p.is_object()).collect(),
        p @ Value::Object(_) => vec![p],
        _ => Vec::new(),
    };
    let Some(first) = proofs.first() else { return Verification::not_verified("none", "the credential carries no proof") };
    let method: Vec<String> = proofs
        .iter()
        .map(|p| {
            let kind = p["type"].as_str().unwrap_or("proof");
            match p["cryptosuite"].as_str() {
                Some(suite) => format!("{kind} {suite}"),
                None => kind.to_owned(),
            }
        })
        .collect();
    let mut reason = "Data Integrity proofs are not checked offline yet".to_owned();
    if let Some(key) = first["verificationMethod"].as_str()
        && !key.starts_with("did:key:")
    {
        reason.push_str("; ");
        reason.push_str(&unresolvable(key));
    }
    Verification::not_verified(method.join(", "), reason)
}

/// A CLR's included credentials (objects or compact JWS), each read as an Open Badges 3.0 credential; one that is
/// not is a violation of the CLR.
fn include_parts(out: &mut Vec<Credential>, limits: ReadLimits, now: OffsetDateTime) -> Result<(), BadgeError> {
    let clr_id = out[0].dedupe_key();
    let items = out[0].value["credentialSubject"]["verifiableCredential"].as_array().cloned().unwrap_or_default();
    let mut problems = Vec::new();
    let mut titles = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        if out.len() >= limits.max_credentials as usize {
            return Err(BadgeError::TooManyCredentials { limit: limits.max_credentials });
        }
        let path = format!("$.credentialSubject.verifiableCredential[{i}]");
        let part = match item {
            Value::Object(_) => build(item, None, Container::Plain, now, Some(clr_id.clone())),
            Value::String(compact) if is_compact_jws(&compact) => jws::parse(&compact, limits.max_json_depth)
                .and_then(|jws| Ok((credential_of(&jws)?, jws)))
                .and_then(|(value, jws)| build(value, Some(jws), Container::Plain, now, Some(clr_id.clone()))),
            _ => Err(BadgeError::Unrecognised { reason: "neither a credential object nor a compact JWS".into() }),
        };
        match part {
            Ok(part) if part.format == Format::Ob3 => {
                titles.extend(part.title());
                out.push(part);
            }
            Ok(part) => problems.push(Violation {
                rule: Rule::ClrCredentialFormat,
                path,
                message: format!("a CLR includes Open Badges 3.0 credentials, not `{}`", part.format.as_str()),
            }),
            Err(e) => problems.push(Violation { rule: Rule::ClrCredentialFormat, path, message: format!("the included credential cannot be read: {e}") }),
        }
    }
    out[0].violations.extend(problems);
    out[0].parts = titles;
    Ok(())
}
