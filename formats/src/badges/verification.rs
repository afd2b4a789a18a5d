//! Whether a credential's signature was checked, and how: kept in its record, never implied.

use serde_json::{Map, Value, json};

/// What became of a credential's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationStatus {
    /// The signature was checked here, offline, against the key it names, and matches.
    Verified,
    /// The signature was not checked: no proof, a key that needs the network, or a proof this reader cannot check.
    NotVerified,
    /// The key was at hand and the signature does not match it (or the key is not the issuer's).
    Failed,
}

impl VerificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationStatus::Verified => "verified",
            VerificationStatus::NotVerified => "not_verified",
            VerificationStatus::Failed => "failed",
        }
    }
}

/// The outcome, the method (`jws RS256`, `DataIntegrityProof eddsa-rdfc-2022`, `hosted`, `none`) and, unless it
/// was verified with the issuer's own key, the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub status: VerificationStatus,
    pub method: String,
    pub reason: Option<String>,
}

impl Verification {
    pub(crate) fn verified(method: impl Into<String>, note: Option<String>) -> Verification {
        Verification { status: VerificationStatus::Verified, method: method.into(), reason: note }
    }

    pub(crate) fn not_verified(method: impl Into<String>, reason: impl Into<String>) -> Verification {
        Verification { status: VerificationStatus::NotVerified, method: method.into(), reason: Some(reason.into()) }
    }

    pub(crate) fn failed(method: impl Into<String>, reason: impl Into<String>) -> Verification {
        Verification { status: VerificationStatus::Failed, method: method.into(), reason: Some(reason.into()) }
    }

    pub(crate) fn with_method(mut self, method: String) -> Verification {
        self.method = method;
        self
    }

    /// `{"status", "method", "reason"?}`, as the record body holds it.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("status".into(), json!(self.status.as_str()));
        out.insert("method".into(), json!(self.method));
        if let Some(reason) = &self.reason {
            out.insert("reason".into(), json!(reason));
        }
        Value::Object(out)
    }
}
