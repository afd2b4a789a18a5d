//! Compact JWS (VC-JWT and signed OB 2.0 assertions): the parts decoded, and the signature checked when the key is
//! at hand without the network: a `jwk` in the header, or a `kid` that is a `did:key` (Ed25519).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::input::{BadgeError, check_depth};
use super::verification::Verification;

/// A compact JWS taken apart; the signature not yet checked.
#[derive(Debug, Clone)]
pub(crate) struct Jws {
    pub(crate) compact: String,
    pub(crate) header: Value,
    pub(crate) payload: Value,
}

fn part(encoded: &str, what: &str) -> Result<Vec<u8>, BadgeError> {
    URL_SAFE_NO_PAD.decode(encoded).map_err(|_| BadgeError::Jws { reason: format!("its {what} is not base64url") })
}

pub(crate) fn parse(compact: &str, max_depth: u32) -> Result<Jws, BadgeError> {
    let mut parts = compact.split('.');
    let (Some(header), Some(payload), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(BadgeError::Jws { reason: "it is not three parts separated by dots".into() });
    };
    let json = |bytes: Vec<u8>, what: &str| -> Result<Value, BadgeError> {
        let text = String::from_utf8(bytes).map_err(|_| BadgeError::Jws { reason: format!("its {what} is not UTF-8") })?;
        check_depth(&text, max_depth)?;
        let value: Value = serde_json::from_str(&text).map_err(|e| BadgeError::Jws { reason: format!("its {what} is not JSON ({e})") })?;
        if value.is_object() { Ok(value) } else { Err(BadgeError::Jws { reason: format!("its {what} is not a JSON object") }) }
    };
    let header = json(part(header, "header")?, "header")?;
    let payload = json(part(payload, "payload")?, "payload")?;
    Ok(Jws { compact: compact.to_owned(), header, payload })
}

/// Where the issuer's key would come from when it is not in the JWS: a URL or DID that needs the network.
pub(crate) struct KeyHint<'a> {
    /// OB 2.0: `verification.creator`.
    pub(crate) creator: Option<&'a str>,
    /// The credential's issuer id, to say where its keys are published, and to bind a `did:key`.
    pub(crate) issuer_id: Option<&'a str>,
}

impl Jws {
    /// The outcome of checking the signature with what is at hand offline.
    pub(crate) fn verify(&self, hint: KeyHint<'_>) -> Verification {
        let alg_name = self.header["alg"].as_str().unwrap_or("");
        let method = format!("jws {alg_name}");
        if alg_name.eq_ignore_ascii_case("none") {
            return Verification::not_verified(method, "the JWS declares `alg: none`: it is not signed");
        }
        let Ok(alg) = Algorithm::from_str(alg_name) else {
            return Verification::not_verified(method, format!("the algorithm `{alg_name}` is not one this reader checks"));
        };
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Verification::not_verified(method, format!("`{alg_name}` is a shared-secret algorithm, which cannot show who signed"));
        }
        let (key, source, bound) = match self.key(alg, &hint) {
            Ok(found) => found,
            Err(outcome) => return outcome.with_method(method),
        };
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return Verification::not_verified(method, "no signature backend is configured in this build");
        }
        let Some((message, signature)) = self.compact.rsplit_once('.') else {
            return Verification::failed(method, "the JWS has no signature part");
        };
        // INVARIANT: `jsonwebtoken` is only given keys checked above; a panic in it would still be caught here.
        let checked = catch_unwind(AssertUnwindSafe(|| jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, alg)));
        match checked {
            Ok(Ok(true)) => match bound {
                Binding::Issuer => Verification::verified(method, None),
                Binding::Unbound => Verification::verified(
                    method,
                    Some(format!("the signature matches {source}; nothing checked offline ties that key to the issuer")),
                ),
                Binding::Other(issuer) => {
                    Verification::failed(method, format!("the signature matches {source}, which is not the issuer's (`{issuer}`)"))
                }
            },
            Ok(Ok(false)) => Verification::failed(method, format!("the signature does not match {source}")),
            Ok(Err(e)) => Verification::failed(method, format!("the signature cannot be checked with {source} ({e})")),
            Err(_) => Verification::not_verified(method, format!("the check of the signature with {source} stopped on an internal error")),
        }
    }

    /// The key, a phrase naming it, and whether it is bound to the issuer; or why there is none offline.
    fn key(&self, alg: Algorithm, hint: &KeyHint<'_>) -> Result<(DecodingKey, String, Binding), Verification> {
        if let Some(jwk) = self.header.get("jwk") {
            let key = jwk_key(jwk, alg).map_err(|reason| Verification::failed("", format!("the `jwk` in the header is unusable: {reason}")))?;
            return Ok((key, "the key in the JWS header".into(), Binding::Unbound));
        }
        let kid = self.header["kid"].as_str();
        if let Some(kid) = kid {
            if let Some(did) = kid.strip_prefix("did:key:") {
                let (multibase, fragment) = did.split_once('#').unwrap_or((did, ""));
                if !fragment.is_empty() && fragment != multibase {
                    return Err(Verification::not_verified("", format!("the key `{kid}` names another key than its DID's")));
                }
                if alg != Algorithm::EdDSA {
                    return Err(Verification::failed("", format!("the key `{kid}` is Ed25519, not for `{alg:?}`")));
                }
                let x = did_key_ed25519(multibase).map_err(|reason| Verification::not_verified("", format!("the key `{kid}` is unusable: {reason}")))?;
                let key = DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(x))
                    .map_err(|_| Verification::not_verified("", format!("the key `{kid}` is unusable")))?;
                let did = format!("did:key:{multibase}");
                let binding = match hint.issuer_id {
                    Some(issuer) if issuer == did || issuer.starts_with(&format!("{did}#")) => Binding::Issuer,
                    Some(issuer) if issuer.starts_with("did:") => Binding::Other(issuer.to_owned()),
                    _ => Binding::Unbound,
                };
                return Ok((key, format!("the key `{did}`"), binding));
            }
            return Err(Verification::not_verified("", unresolvable(kid)));
        }
        match hint.creator.or(hint.issuer_id) {
            Some(url) => Err(Verification::not_verified("", format!("the JWS names no key of its own; {}", unresolvable(url)))),
            None => Err(Verification::not_verified("", "the JWS names no key, and no issuer says where one is published")),
        }
    }
}

enum Binding {
    /// The key is the issuer's own identifier (a `did:key` issuer).
    Issuer,
    /// Nothing offline says whose key it is.
    Unbound,
    /// The issuer is another DID.
    Other(String),
}

/// Why a key named by a URL or a DID cannot be had offline.
pub(crate) fn unresolvable(id: &str) -> String {
    let shown: String = id.chars().take(300).collect();
    if let Some(rest) = id.strip_prefix("did:web:") {
        let host = rest.split([':', '#']).next().unwrap_or(rest);
        let host = host.replace("%3A", ":").replace("%3a", ":");
        format!("the key is published at https://{host}/ (did:web `{shown}`), which needs the network")
    } else if id.starts_with("https://") || id.starts_with("http://") {
        format!("the key is published at {shown}, which needs the network")
    } else if let Some(method) = id.strip_prefix("did:").and_then(|r| r.split(':').next()) {
        format!("the key `{shown}` is a did:{method}, which cannot be resolved offline")
    } else {
        format!("the key `{shown}` cannot be resolved offline")
    }
}

/// The 32 bytes of an Ed25519 `did:key` (multibase base58btc `z`, multicodec `0xed 0x01`).
pub(crate) fn did_key_ed25519(multibase: &str) -> Result<[u8; 32], &'static str> {
    let encoded = multibase.strip_prefix('z').ok_or("not multibase base58btc (`z…`)")?;
    if encoded.len() > 100 {
        return Err("too long for an Ed25519 key");
    }
    let bytes = bs58::decode(encoded).into_vec().map_err(|_| "not base58btc")?;
    let key = bytes.strip_prefix(&[0xed, 0x01]).ok_or("not an Ed25519 public key (multicodec 0xed01)")?;
    key.try_into().map_err(|_| "not 32 bytes long")
}

/// A public key from a JWK, its size checked before `jsonwebtoken` sees it (it slices Ed25519 keys unchecked).
fn jwk_key(jwk: &Value, alg: Algorithm) -> Result<DecodingKey, String> {
    let jwk: Jwk = serde_json::from_value(jwk.clone()).map_err(|_| "not a JWK".to_owned())?;
    let len = |b64: &str| URL_SAFE_NO_PAD.decode(b64).map(|b| b.len()).map_err(|_| "a member is not base64url".to_owned());
    let family_ok = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let (n, e) = (len(&rsa.n)?, len(&rsa.e)?);
            if !(128..=512).contains(&n) || !(1..=8).contains(&e) {
                return Err("an RSA key of 1024 to 4096 bits is expected".into());
            }
            matches!(alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512)
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            let size = match (ec.curve.clone(), alg) {
                (EllipticCurve::P256, Algorithm::ES256) => 32,
                (EllipticCurve::P384, Algorithm::ES384) => 48,
                _ => return Err(format!("the curve does not fit `{alg:?}`")),
            };
            if len(&ec.x)? != size || len(&ec.y)? != size {
                return Err("the curve point has the wrong size".into());
            }
            true
        }
        AlgorithmParameters::OctetKeyPair(okp) => {
            if len(&okp.x)? != 32 {
                return Err("an Ed25519 key is 32 bytes".into());
            }
            alg == Algorithm::EdDSA
        }
        AlgorithmParameters::OctetKey(_) => return Err("a shared secret is not a public key".into()),
        _ => return Err("the key type is not supported".into()),
    };
    if !family_ok {
        return Err(format!("the key does not fit `{alg:?}`"));
    }
    DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_key_decodes_ed25519_and_refuses_the_rest() {
        // The did:key spec's first Ed25519 example.
        let key = did_key_ed25519("z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK").unwrap();
        assert_eq!(hex::encode(key), "2e6fcce36701dc791488e0d0b1745cc1e33a4c1c9fcc41c63bd343dbbe0970e6");
        assert!(did_key_ed25519("6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK").is_err());
        assert!(did_key_ed25519("z0OIl").is_err());
        assert!(did_key_ed25519("zDnaekGZTbQBerwcehBSXLqAg6s55hVEBms1zFy89VHXtJSa9").is_err());
        assert!(did_key_ed25519(&format!("z{}", "2".repeat(200))).is_err());
        assert!(did_key_ed25519("z6Mk").is_err());
    }

    #[test]
    fn keys_that_cannot_be_had_offline_say_where_they_are() {
        assert_eq!(unresolvable("did:web:registrar%3A3000:d:x#k"), "the key is published at https://registrar:3000/ (did:web `did:web:registrar%3A3000:d:x#k`), which needs the network");
        assert_eq!(unresolvable("https://example.org/key1.json"), "the key is published at https://example.org/key1.json, which needs the network");
        assert_eq!(unresolvable("did:velocity:v2:0x4#key-1"), "the key `did:velocity:v2:0x4#key-1` is a did:velocity, which cannot be resolved offline");
    }

    #[test]
    fn a_short_or_mismatched_jwk_is_refused_before_jsonwebtoken_sees_it() {
        let short = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"});
        assert!(jwk_key(&short, Algorithm::EdDSA).is_err());
        let rsa_for_ed = serde_json::json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([1u8; 256]), "e": "AQAB"});
        assert!(jwk_key(&rsa_for_ed, Algorithm::EdDSA).is_err());
        assert!(jwk_key(&rsa_for_ed, Algorithm::RS256).is_ok());
        let empty_n = serde_json::json!({"kty": "RSA", "n": "", "e": "AQAB"});
        assert!(jwk_key(&empty_n, Algorithm::RS256).is_err());
        assert!(jwk_key(&serde_json::json!({"kty": "oct", "k": "c2VjcmV0"}), Algorithm::RS256).is_err());
        assert!(jwk_key(&serde_json::json!("nope"), Algorithm::RS256).is_err());
    }
}
