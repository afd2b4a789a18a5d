//! What every format gives: record bodies for the vault, and the canonical JSON their dedupe keys hash.

use serde_json::Value;

/// One record's body, ready for the vault: its doctype, the key that makes importing twice harmless, the JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordBody {
    pub doctype: &'static str,
    pub dedupe_key: String,
    pub body: Value,
}

/// Keys sorted by their UTF-8 bytes at every level, no whitespace, strings and numbers as serde_json writes them
/// (so `1` and `1.0` differ).
pub(crate) fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `sha256:` and the SHA-256 in hexadecimal of `value`'s canonical JSON.
pub(crate) fn canonical_sha256(value: &Value) -> String {
    use sha2::{Digest, Sha256};
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    format!("sha256:{}", hex::encode(Sha256::digest(canonical.as_bytes())))
}
