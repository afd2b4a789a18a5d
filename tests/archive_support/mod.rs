//! Reading and forging archives in tests: their entries, one entry, the same archive changed, and changed with a
//! manifest made to agree (as a forger would).
#![allow(dead_code)]

use std::io::{Cursor, Read, Write};

use serde_json::Value;

/// Every entry of a zip, in order: name and bytes.
pub fn entries(zip_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(Cursor::new(zip_bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut entry = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (entry.name().unwrap().into_owned(), bytes)
        })
        .collect()
}

/// One entry's bytes; the test fails if it is absent.
pub fn entry(all: &[(String, Vec<u8>)], path: &str) -> Vec<u8> {
    all.iter().find(|(n, _)| n == path).map(|(_, b)| b.clone()).unwrap_or_else(|| panic!("no {path}"))
}

/// The same entries in a new zip, with `change` applied to them first (the manifest left as it was).
pub fn rewritten(zip_bytes: &[u8], change: impl Fn(&mut Vec<(String, Vec<u8>)>)) -> Vec<u8> {
    let mut all = entries(zip_bytes);
    change(&mut all);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in all {
        zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The same entries in a new zip after `change`, with the manifest made to agree (sizes and hashes), as a forger would.
pub fn forged(zip_bytes: &[u8], change: impl Fn(&mut Vec<(String, Vec<u8>)>)) -> Vec<u8> {
    use sha2::Digest as _;
    rewritten(zip_bytes, |all| {
        change(all);
        let manifest_at = all.iter().position(|(n, _)| n == "manifest.json").unwrap();
        let mut manifest: Value = serde_json::from_slice(&all[manifest_at].1).unwrap();
        manifest["entries"] = all
            .iter()
            .filter(|(n, _)| n != "manifest.json")
            .map(|(n, bytes)| serde_json::json!({"path": n, "size": bytes.len(), "sha256": hex::encode(sha2::Sha256::digest(bytes))}))
            .collect();
        all[manifest_at].1 = serde_json::to_vec(&manifest).unwrap();
    })
}

/// The manifest of an archive.
pub fn manifest(zip_bytes: &[u8]) -> Value {
    serde_json::from_slice(&entry(&entries(zip_bytes), "manifest.json")).unwrap()
}
