//! The structural rules of Open Badges 2.0, Open Badges 3.0 and CLR 2.0 (with the Verifiable Credentials Data Model
//! 1.1 and 2.0 they build on) checked on a JSON value: each violation with a stable rule name and a JSON path.

use std::fmt;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A rule a credential breaks; the name is stable, for logs, counts and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    CredentialNotObject,
    ContextRequired,
    ContextOrder,
    TypeRequired,
    PropertyRequired,
    PropertyType,
    IriAbsolute,
    DateFormat,
    Expired,
    NotYetValid,
    ExpiresBeforeIssued,
    SubjectIdentifier,
    RecipientIdentityHash,
    VerificationType,
    ProofRequired,
    ProofVerificationMethod,
    JwtClaimMismatch,
    ClrCredentialFormat,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::CredentialNotObject => "credential.not-object",
            Rule::ContextRequired => "context.required",
            Rule::ContextOrder => "context.order",
            Rule::TypeRequired => "type.required",
            Rule::PropertyRequired => "property.required",
            Rule::PropertyType => "property.type",
            Rule::IriAbsolute => "iri.absolute",
            Rule::DateFormat => "date.rfc3339",
            Rule::Expired => "credential.expired",
            Rule::NotYetValid => "credential.not-yet-valid",
            Rule::ExpiresBeforeIssued => "credential.expires-before-issued",
            Rule::SubjectIdentifier => "credential-subject.id-or-identifier",
            Rule::RecipientIdentityHash => "recipient.identity.hash",
            Rule::VerificationType => "verification.type",
            Rule::ProofRequired => "proof.required",
            Rule::ProofVerificationMethod => "proof.verification-method",
            Rule::JwtClaimMismatch => "jwt.claim.mismatch",
            Rule::ClrCredentialFormat => "clr.credential.format",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken rule: which, where (a JSON path from `$`, the credential; `jwt.` and a claim for a VC-JWT's claims),
/// and a sentence saying what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    pub path: String,
    pub message: String,
}

pub(crate) const VCDM_1: &str = "https://www.w3.org/2018/credentials/v1";
pub(crate) const VCDM_2: &str = "https://www.w3.org/ns/credentials/v2";
const OB_2: &[&str] = &["https://w3id.org/openbadges/v2", "https://w3id.org/openbadges/v2/"];
/// The published drafts' addresses, as the 1EdTech validator still accepts them.
const OB_3_DRAFT: &str = "https://imsglobal.github.io/openbadges-specification/context.json";
const CLR_2_DRAFT: &str = "https://dc.imsglobal.org/draft/clr/v2p0/context";

/// `https://purl.imsglobal.org/spec/ob/v3p0/context.json` or `…/context-3.0.N.json`, and the draft's address.
pub(crate) fn is_ob3_context(url: &str) -> bool {
    url == OB_3_DRAFT || versioned(url, "https://purl.imsglobal.org/spec/ob/v3p0/context", "3.0.")
}

/// `https://purl.imsglobal.org/spec/clr/v2p0/context.json` or `…/context-2.0.N.json`, and the draft's address.
pub(crate) fn is_clr2_context(url: &str) -> bool {
    url == CLR_2_DRAFT || versioned(url, "https://purl.imsglobal.org/spec/clr/v2p0/context", "2.0.")
}

pub(crate) fn is_ob2_context(url: &str) -> bool {
    OB_2.contains(&url)
}

fn versioned(url: &str, base: &str, version: &str) -> bool {
    let Some(rest) = url.strip_prefix(base).and_then(|r| r.strip_suffix(".json")) else { return false };
    rest.is_empty() || rest.strip_prefix('-').and_then(|v| v.strip_prefix(version)).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The context entries that are strings (an inline context object is skipped), a lone string as a list of one.
pub(crate) fn contexts(value: &Value) -> Vec<&str> {
    match &value["@context"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// `type` as a list: a string or an array of strings.
pub(crate) fn types(value: &Value) -> Vec<&str> {
    match &value["type"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn has_type(value: &Value, name: &str) -> bool {
    types(value).contains(&name)
}

/// An RFC 3339 date-time (a full date, a time and an offset).
pub(crate) fn parse_date(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// An absolute IRI: a scheme, a colon, something after it.
pub(crate) fn is_absolute_iri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else { return false };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && !text.contains(char::is_whitespace)
}

pub(crate) fn child(path: &str, key: &str) -> String {
    let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain { format!("{path}.{key}") } else { format!("{path}[{}]", Value::String(key.to_owned())) }
}

fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// What an Open Badges 3.0 family credential must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vc {
    /// An `OpenBadgeCredential` (or `AchievementCredential`).
    Badge,
    /// A `ClrCredential`.
    Clr,
}

pub(crate) struct Check {
    pub(crate) found: Vec<Violation>,
    now: OffsetDateTime,
}

impl Check {
    pub(crate) fn new(now: OffsetDateTime) -> Check {
        Check { found: Vec::new(), now }
    }

    pub(crate) fn report(&mut self, rule: Rule, path: &str, message: impl Into<String>) {
        self.found.push(Violation { rule, path: path.to_owned(), message: message.into() });
    }

    /// An OB 3.0 or CLR 2.0 credential. `enveloped` when it came in a VC-JWT, whose signature secures it instead of
    /// an embedded proof.
    pub(crate) fn vc(&mut self, vc: &Value, kind: Vc, enveloped: bool) {
        if !vc.is_object() {
            return self.report(Rule::CredentialNotObject, "$", "a credential is a JSON object");
        }
        let contexts = contexts(vc);
        let vcdm = contexts.first().copied().filter(|c| *c == VCDM_1 || *c == VCDM_2);
        self.context_at(&contexts, 0, "the Verifiable Credentials context (`https://www.w3.org/ns/credentials/v2` or 1.1's)", |c| c == VCDM_1 || c == VCDM_2);
        match kind {
            Vc::Badge => self.context_at(&contexts, 1, "the Open Badges 3.0 context", is_ob3_context),
            Vc::Clr => self.context_at(&contexts, 1, "the CLR 2.0 context", is_clr2_context),
        }
        let wanted: &[&str] = match kind {
            Vc::Badge => &["OpenBadgeCredential", "AchievementCredential"],
            Vc::Clr => &["ClrCredential"],
        };
        self.types_at(vc, "$", &["VerifiableCredential"]);
        self.types_at(vc, "$", wanted);
        self.optional_iri(vc, "$", "id");

        // The issuer: a Profile with an id.
        match &vc["issuer"] {
            Value::Null => self.report(Rule::PropertyRequired, "$.issuer", "a credential has an `issuer`"),
            issuer @ Value::Object(_) => self.profile(issuer, "$.issuer"),
            _ => self.report(Rule::PropertyType, "$.issuer", "the issuer is a `Profile` object with an `id` and a `type`"),
        }

        self.vc_dates(vc, vcdm);

        let subject = &vc["credentialSubject"];
        match (subject, kind) {
            (Value::Null, _) => self.report(Rule::PropertyRequired, "$.credentialSubject", "a credential has a `credentialSubject`"),
            (Value::Object(_), Vc::Badge) => self.achievement_subject(subject, "$.credentialSubject"),
            (Value::Object(_), Vc::Clr) => self.clr_subject(subject, "$.credentialSubject"),
            _ => self.report(Rule::PropertyType, "$.credentialSubject", "the credential subject is one object"),
        }
        self.each_typed(&vc["evidence"], "$.evidence", "Evidence");
        self.proofs(vc, enveloped);
    }

    /// Entry `index` of the context list must satisfy `fits`: `context.required` when no entry does,
    /// `context.order` when one does elsewhere.
    fn context_at(&mut self, contexts: &[&str], index: usize, what: &str, fits: impl Fn(&str) -> bool) {
        let path = format!("$[\"@context\"][{index}]");
        if contexts.get(index).is_some_and(|c| fits(c)) {
            return;
        }
        if contexts.iter().any(|c| fits(c)) {
            self.report(Rule::ContextOrder, &path, format!("{what} is item {index} of `@context`"));
        } else {
            self.report(Rule::ContextRequired, &path, format!("`@context` lacks {what}"));
        }
    }

    /// `type` includes one of `names`.
    fn types_at(&mut self, value: &Value, path: &str, names: &[&str]) {
        let path = child(path, "type");
        if value["type"].is_null() {
            return self.report(Rule::PropertyRequired, &path, format!("a `type` including `{}` is required", names[0]));
        }
        let found = types(value);
        if !names.iter().any(|n| found.contains(n)) {
            let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            self.report(Rule::TypeRequired, &path, format!("`type` includes {}", names.join(" or ")));
        }
    }

    /// Each object of `value` (one object or an array of them) has `type` including `name`.
    fn each_typed(&mut self, value: &Value, path: &str, name: &str) {
        match value {
            Value::Object(_) => self.types_at(value, path, &[name]),
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    if v.is_object() {
                        self.types_at(v, &item(path, i), &[name]);
                    }
                }
            }
            _ => {}
        }
    }

    fn required_string(&mut self, value: &Value, path: &str, key: &str) {
        match &value[key] {
            Value::String(s) if !s.is_empty() => {}
            Value::Null => self.report(Rule::PropertyRequired, &child(path, key), format!("`{key}` is required")),
            _ => self.report(Rule::PropertyType, &child(path, key), format!("`{key}` is a non-empty string")),
        }
    }

    fn required_iri(&mut self, value: &Value, path: &str, key: &str) {
        if value[key].is_null() {
            return self.report(Rule::PropertyRequired, &child(path, key), format!("`{key}` is required"));
        }
        self.optional_iri(value, path, key);
    }

    fn optional_iri(&mut self, value: &Value, path: &str, key: &str) {
        match &value[key] {
            Value::Null => {}
            Value::String(s) if is_absolute_iri(s) => {}
            Value::String(_) => self.report(Rule::IriAbsolute, &child(path, key), format!("`{key}` is an absolute IRI")),
            _ => self.report(Rule::PropertyType, &child(path, key), format!("`{key}` is a string")),
        }
    }

    /// A Profile: id, type `Profile`; its parent organisation and other identifiers typed as well.
    fn profile(&mut self, profile: &Value, path: &str) {
        self.required_iri(profile, path, "id");
        self.types_at(profile, path, &["Profile"]);
        if profile["parentOrg"].is_object() {
            self.profile(&profile["parentOrg"], &child(path, "parentOrg"));
        }
        self.each_typed(&profile["otherIdentifier"], &child(path, "otherIdentifier"), "IdentifierEntry");
        self.each_typed(&profile["address"], &child(path, "address"), "Address");
    }

    fn achievement_subject(&mut self, subject: &Value, path: &str) {
        self.types_at(subject, path, &["AchievementSubject"]);
        let identifiers = subject["identifier"].as_array().is_some_and(|a| !a.is_empty()) || subject["identifier"].is_object();
        if subject["id"].is_null() && !identifiers {
            self.report(Rule::SubjectIdentifier, path, "the subject has an `id` or at least one `identifier`");
        }
        self.optional_iri(subject, path, "id");
        self.each_typed(&subject["identifier"], &child(path, "identifier"), "IdentityObject");
        self.each_typed(&subject["result"], &child(path, "result"), "Result");
        if let Some(results) = subject["result"].as_array() {
            for (i, r) in results.iter().enumerate() {
                self.each_typed(&r["alignment"], &child(&item(&child(path, "result"), i), "alignment"), "Alignment");
            }
        }
        if subject["source"].is_object() {
            self.profile(&subject["source"], &child(path, "source"));
        }
        match &subject["achievement"] {
            Value::Null => self.report(Rule::PropertyRequired, &child(path, "achievement"), "the subject has an `achievement`"),
            a @ Value::Object(_) => self.achievement(a, &child(path, "achievement")),
            _ => self.report(Rule::PropertyType, &child(path, "achievement"), "the achievement is an object"),
        }
    }

    /// An Achievement: id, type `Achievement`, name, description, criteria; its nested parts typed.
    fn achievement(&mut self, a: &Value, path: &str) {
        self.required_iri(a, path, "id");
        self.types_at(a, path, &["Achievement"]);
        self.required_string(a, path, "name");
        self.required_string(a, path, "description");
        match &a["criteria"] {
            Value::Null => self.report(Rule::PropertyRequired, &child(path, "criteria"), "an achievement has `criteria`"),
            Value::Object(c) if c.get("id").is_some() || c.get("narrative").is_some() => {}
            _ => self.report(Rule::PropertyType, &child(path, "criteria"), "`criteria` is an object with an `id` or a `narrative`"),
        }
        if a["creator"].is_object() {
            self.profile(&a["creator"], &child(path, "creator"));
        }
        self.each_typed(&a["alignment"], &child(path, "alignment"), "Alignment");
        self.each_typed(&a["otherIdentifier"], &child(path, "otherIdentifier"), "IdentifierEntry");
        self.each_typed(&a["related"], &child(path, "related"), "Related");
        let descriptions = child(path, "resultDescription");
        self.each_typed(&a["resultDescription"], &descriptions, "ResultDescription");
        if let Some(list) = a["resultDescription"].as_array() {
            for (i, d) in list.iter().enumerate() {
                let at = item(&descriptions, i);
                self.each_typed(&d["alignment"], &child(&at, "alignment"), "Alignment");
                self.each_typed(&d["rubricCriterionLevel"], &child(&at, "rubricCriterionLevel"), "RubricCriterionLevel");
            }
        }
    }

    fn clr_subject(&mut self, subject: &Value, path: &str) {
        self.types_at(subject, path, &["ClrSubject"]);
        self.optional_iri(subject, path, "id");
        self.each_typed(&subject["identifier"], &child(path, "identifier"), "IdentityObject");
        if let Some(list) = subject["achievement"].as_array() {
            for (i, a) in list.iter().enumerate() {
                if a.is_object() {
                    self.achievement(a, &item(&child(path, "achievement"), i));
                }
            }
        }
        self.each_typed(&subject["association"], &child(path, "association"), "Association");
        match &subject["verifiableCredential"] {
            Value::Array(list) if !list.is_empty() => {}
            Value::Null => self.report(Rule::PropertyRequired, &child(path, "verifiableCredential"), "a CLR includes at least one credential"),
            _ => self.report(Rule::PropertyType, &child(path, "verifiableCredential"), "`verifiableCredential` is a non-empty array"),
        }
    }

    /// `validFrom`/`validUntil` (VCDM 2.0) or `issuanceDate`/`expirationDate` (1.1): present as the version needs,
    /// RFC 3339, in order, and around `now`.
    fn vc_dates(&mut self, vc: &Value, vcdm: Option<&str>) {
        let from_key = match vcdm {
            Some(VCDM_1) => "issuanceDate",
            Some(_) => "validFrom",
            None if vc["issuanceDate"].is_string() => "issuanceDate",
            None => "validFrom",
        };
        let until_key = if from_key == "issuanceDate" { "expirationDate" } else { "validUntil" };
        if vc[from_key].is_null() {
            self.report(Rule::PropertyRequired, &child("$", from_key), format!("a credential has `{from_key}`"));
        }
        let from = self.date(vc, "$", from_key);
        let until = self.date(vc, "$", until_key);
        for other in ["awardedDate", if from_key == "validFrom" { "issuanceDate" } else { "validFrom" }] {
            self.date(vc, "$", other);
        }
        self.window(from, until, &child("$", from_key), &child("$", until_key));
    }

    /// The date at `key`, reported unless absent or RFC 3339.
    pub(crate) fn date(&mut self, value: &Value, path: &str, key: &str) -> Option<OffsetDateTime> {
        match &value[key] {
            Value::Null => None,
            Value::String(s) => {
                let parsed = parse_date(s);
                if parsed.is_none() {
                    self.report(Rule::DateFormat, &child(path, key), format!("`{key}` is an RFC 3339 date-time with an offset"));
                }
                parsed
            }
            _ => {
                self.report(Rule::DateFormat, &child(path, key), format!("`{key}` is an RFC 3339 date-time string"));
                None
            }
        }
    }

    /// Not valid before `from`, not after `until`, and `until` not before `from`.
    pub(crate) fn window(&mut self, from: Option<OffsetDateTime>, until: Option<OffsetDateTime>, from_path: &str, until_path: &str) {
        if let Some(from) = from
            && from > self.now
        {
            self.report(Rule::NotYetValid, from_path, "the credential is not valid yet");
        }
        if let Some(until) = until {
            if until < self.now {
                self.report(Rule::Expired, until_path, "the credential has expired");
            }
            if from.is_some_and(|from| until < from) {
                self.report(Rule::ExpiresBeforeIssued, until_path, "the credential expires before it is valid");
            }
        }
    }

    /// An embedded proof, unless a VC-JWT secures the credential; each proof's type and verification method.
    fn proofs(&mut self, vc: &Value, enveloped: bool) {
        let proofs: Vec<(String, &Value)> = match &vc["proof"] {
            Value::Null if enveloped => return,
            Value::Null => return self.report(Rule::ProofRequired, "$.proof", "a credential is secured by a proof or a VC-JWT"),
            p @ Value::Object(_) => vec![("$.proof".to_owned(), p)],
            Value::Array(list) => list.iter().enumerate().map(|(i, p)| (item("$.proof", i), p)).collect(),
            _ => return self.report(Rule::PropertyType, "$.proof", "`proof` is an object or an array of them"),
        };
        for (path, proof) in proofs {
            if !proof.is_object() {
                self.report(Rule::PropertyType, &path, "a proof is an object");
                continue;
            }
            self.required_string(proof, &path, "type");
            let known = ["DataIntegrityProof", "Ed25519Signature2020"].iter().any(|t| has_type(proof, t));
            if has_type(proof, "DataIntegrityProof") {
                self.required_string(proof, &path, "cryptosuite");
            }
            if known {
                self.required_string(proof, &path, "proofValue");
                self.required_string(proof, &path, "verificationMethod");
            }
            if let Some(method) = proof["verificationMethod"].as_str() {
                let scheme = method.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
                let dereferenceable = is_absolute_iri(method) && matches!(scheme.as_deref(), Some("did" | "https" | "http" | "urn"));
                if !dereferenceable {
                    self.report(
                        Rule::ProofVerificationMethod,
                        &child(&path, "verificationMethod"),
                        "the verification method is a URL a key is found at (`did:`, `https:`, `http:` or `urn:`)",
                    );
                }
            }
        }
    }

    /// An Open Badges 2.0 Assertion.
    pub(crate) fn ob2(&mut self, a: &Value) {
        if !a.is_object() {
            return self.report(Rule::CredentialNotObject, "$", "an assertion is a JSON object");
        }
        let contexts = contexts(a);
        if !contexts.first().is_some_and(|c| is_ob2_context(c)) {
            let rule = if contexts.iter().any(|c| is_ob2_context(c)) { Rule::ContextOrder } else { Rule::ContextRequired };
            self.report(rule, "$[\"@context\"]", "`@context` starts with `https://w3id.org/openbadges/v2`");
        }
        self.types_at(a, "$", &["Assertion"]);
        self.required_iri(a, "$", "id");
        match &a["recipient"] {
            Value::Null => self.report(Rule::PropertyRequired, "$.recipient", "an assertion has a `recipient`"),
            r @ Value::Object(_) => {
                self.required_string(r, "$.recipient", "type");
                self.required_string(r, "$.recipient", "identity");
                match &r["hashed"] {
                    Value::Null | Value::Bool(false) => {}
                    Value::Bool(true) => {
                        let hashed = r["identity"].as_str().and_then(|i| i.split_once('$')).is_some_and(|(algorithm, digest)| {
                            ["sha256", "sha1", "sha384", "sha512", "md5"].contains(&algorithm.to_ascii_lowercase().as_str())
                                && !digest.is_empty()
                                && digest.bytes().all(|b| b.is_ascii_hexdigit())
                        });
                        if r["identity"].is_string() && !hashed {
                            self.report(Rule::RecipientIdentityHash, "$.recipient.identity", "a hashed identity is `algorithm$hexdigest`, such as `sha256$…`");
                        }
                    }
                    _ => self.report(Rule::PropertyType, "$.recipient.hashed", "`hashed` is a boolean"),
                }
            }
            _ => self.report(Rule::PropertyType, "$.recipient", "the recipient is an IdentityObject"),
        }
        match &a["badge"] {
            Value::Null => self.report(Rule::PropertyRequired, "$.badge", "an assertion has a `badge`"),
            Value::String(s) if is_absolute_iri(s) => {}
            Value::String(_) => self.report(Rule::IriAbsolute, "$.badge", "`badge` is an absolute IRI or a BadgeClass"),
            b @ Value::Object(_) => self.badge_class(b, "$.badge"),
            _ => self.report(Rule::PropertyType, "$.badge", "`badge` is an IRI or a BadgeClass"),
        }
        match &a["verification"] {
            Value::Null => self.report(Rule::PropertyRequired, "$.verification", "an assertion has a `verification`"),
            v @ Value::Object(_) => {
                if !["hosted", "HostedBadge", "signed", "SignedBadge"].iter().any(|t| has_type(v, t)) {
                    self.report(Rule::VerificationType, "$.verification.type", "the verification type is `hosted` or `signed`");
                }
                self.optional_iri(v, "$.verification", "creator");
            }
            _ => self.report(Rule::PropertyType, "$.verification", "`verification` is an object"),
        }
        if a["issuedOn"].is_null() {
            self.report(Rule::PropertyRequired, "$.issuedOn", "an assertion has `issuedOn`");
        }
        let issued = self.date(a, "$", "issuedOn");
        let expires = self.date(a, "$", "expires");
        self.window(issued, expires, "$.issuedOn", "$.expires");
    }

    fn badge_class(&mut self, b: &Value, path: &str) {
        self.types_at(b, path, &["BadgeClass"]);
        self.required_iri(b, path, "id");
        self.required_string(b, path, "name");
        self.required_string(b, path, "description");
        match &b["criteria"] {
            Value::Null => self.report(Rule::PropertyRequired, &child(path, "criteria"), "a BadgeClass has `criteria`"),
            Value::String(s) if is_absolute_iri(s) => {}
            Value::Object(c) if c.get("id").is_some() || c.get("narrative").is_some() => {}
            _ => self.report(Rule::PropertyType, &child(path, "criteria"), "`criteria` is an IRI or an object with an `id` or a `narrative`"),
        }
        match &b["issuer"] {
            Value::Null => self.report(Rule::PropertyRequired, &child(path, "issuer"), "a BadgeClass has an `issuer`"),
            Value::String(s) if is_absolute_iri(s) => {}
            i @ Value::Object(_) => {
                let at = child(path, "issuer");
                self.required_iri(i, &at, "id");
                self.types_at(i, &at, &["Issuer", "Profile"]);
                self.required_string(i, &at, "name");
            }
            _ => self.report(Rule::PropertyType, &child(path, "issuer"), "`issuer` is an IRI or a Profile"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn contexts_are_recognised_by_version() {
        for ok in ["https://purl.imsglobal.org/spec/ob/v3p0/context.json", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json", OB_3_DRAFT] {
            assert!(is_ob3_context(ok), "{ok}");
        }
        for no in ["https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.json", "https://purl.imsglobal.org/spec/ob/v3p0/context-2.0.1.json", "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json"] {
            assert!(!is_ob3_context(no), "{no}");
        }
        assert!(is_clr2_context("https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"));
        assert!(!is_clr2_context("https://purl.imsglobal.org/spec/clr/v2p0/context-3.0.1.json"));
    }

    #[test]
    fn dates_are_rfc3339_with_an_offset() {
        assert!(parse_date("2010-01-01T00:00:00Z").is_some());
        assert!(parse_date("2022-11-10T07:38:00-08:00").is_some());
        assert!(parse_date("2025-10-15T00:44:21.142Z").is_some());
        for bad in ["2010-01-01", "2010-01-01T00:00:00", "2010-13-01T00:00:00Z", "2010-02-30T00:00:00Z", "yesterday", ""] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_window_reports_expired_not_yet_valid_and_reversed() {
        let now = datetime!(2026-07-01 0:00 UTC);
        let rules = |from: &str, until: &str| {
            let mut check = Check::new(now);
            check.window(parse_date(from), parse_date(until), "$.a", "$.b");
            check.found.into_iter().map(|v| v.rule).collect::<Vec<_>>()
        };
        assert_eq!(rules("2020-01-01T00:00:00Z", "2030-01-01T00:00:00Z"), []);
        assert_eq!(rules("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"), [Rule::Expired]);
        assert_eq!(rules("2040-01-01T00:00:00Z", "2050-01-01T00:00:00Z"), [Rule::NotYetValid]);
        assert_eq!(rules("2022-12-31T00:00:00Z", "2022-11-15T00:00:00Z"), [Rule::Expired, Rule::ExpiresBeforeIssued]);
        assert_eq!(rules("2040-01-01T00:00:00Z", "2039-01-01T00:00:00Z"), [Rule::NotYetValid, Rule::ExpiresBeforeIssued]);
        // The boundary: valid at the very second it starts and at the very second it ends.
        assert_eq!(rules("2026-07-01T00:00:00Z", "2026-07-01T02:00:00+02:00"), []);
    }

    #[test]
    fn iris_need_a_scheme() {
        assert!(is_absolute_iri("urn:uuid:280c19b6-9680-4a37-ba84-e38b1a4e4584"));
        assert!(is_absolute_iri("did:key:z6Mk"));
        for bad in ["z6MkrvfzkMnvCroEUP2DVc9SHPE48CRsvHiVSusHioxTYu1x", "1http://x", "http:", "a b:c", ""] {
            assert!(!is_absolute_iri(bad), "{bad}");
        }
        let _ = json!({});
    }
}
