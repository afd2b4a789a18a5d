//! The archive format from outside: what is written reads back byte for byte and verifies; every hostile feature
//! an archive can have is refused at open with the error that names it; every odd, broken and fuzz-seed zip of
//! `../shared/testdata/zip` ends in a clear error or a clean result, never a panic.

use std::io::{Cursor, Read, Write};

use cartable_export::{ArchiveError, ArchiveReader, ArchiveWriter, Limits, ManifestHead};
use zip::write::SimpleFileOptions;

fn head() -> ManifestHead {
    ManifestHead { cartable_version: "0.1.0".into(), family_id: "0193-f".into(), created_at: "2026-12-02T10:00:00Z".into(), counts: [("records".to_owned(), 2)].into(), scope: Default::default() }
}

/// Bytes that do not compress, generated.
struct Noise {
    left: u64,
    state: u64,
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left as usize);
        for b in &mut buf[..n] {
            self.state = self.state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            *b = (self.state >> 56) as u8;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn open(bytes: Vec<u8>) -> Result<ArchiveReader<Cursor<Vec<u8>>>, ArchiveError> {
    ArchiveReader::open(Cursor::new(bytes), &Limits::default())
}

#[test]
fn what_is_written_reads_back_and_verifies() {
    let mut writer = ArchiveWriter::new(Vec::new());
    writer.add_json("family.json", &serde_json::json!({"name": "Martin"})).unwrap();
    writer.add_bytes("children/c1/edu.grades/records.json", "[{\"subject\": \"mathématiques\"}]".as_bytes()).unwrap();
    let big = writer.add("children/c1/edu.documents/files/r1/Bulletin T1.pdf", Some(20 << 20), &mut Noise { left: 20 << 20, state: 7 }).unwrap().clone();
    // A photo is stored as it is (its content is compressed already); it reads back the same.
    writer.add("children/c1/edu.documents/files/r2/Photo.JPG", Some(1 << 20), &mut Noise { left: 1 << 20, state: 9 }).unwrap();
    assert_eq!(big.size, 20 << 20);
    assert!(matches!(writer.add_bytes("family.json", b"{}"), Err(cartable_export::WriteError::Duplicate(_))));
    assert!(matches!(writer.add_bytes("../evil", b"{}"), Err(cartable_export::WriteError::Path { .. })));
    let zip = writer.finish(head()).unwrap();

    let mut reader = open(zip.clone()).unwrap();
    assert_eq!(reader.manifest().counts["records"], 2);
    assert_eq!(reader.paths().count(), 4);
    let mut progress = Vec::new();
    reader.verify_all(&mut |done, bytes| progress.push((done, bytes))).unwrap();
    assert_eq!(progress.last().map(|p| p.0), Some(4));
    let mut raw = zip::ZipArchive::new(Cursor::new(zip.clone())).unwrap();
    assert_eq!(raw.by_name("children/c1/edu.documents/files/r2/Photo.JPG").unwrap().compression(), zip::CompressionMethod::Stored);
    assert_eq!(raw.by_name("family.json").unwrap().compression(), zip::CompressionMethod::Deflated);
    let mut back = Vec::new();
    reader.copy_verified("children/c1/edu.documents/files/r1/Bulletin T1.pdf", &mut back).unwrap();
    let mut expected = Vec::new();
    Noise { left: 20 << 20, state: 7 }.read_to_end(&mut expected).unwrap();
    assert!(back == expected, "the file reads back byte for byte");
    assert!(matches!(reader.read_small("children/c1/edu.documents/files/r1/Bulletin T1.pdf", 1024), Err(ArchiveError::Unexpected { .. })));
}

/// A zip written by hand (as an attacker would), with a manifest that lists what `listed` says.
fn crafted(entries: &[(&str, &[u8])], listed: Option<serde_json::Value>) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut manifest_entries = Vec::new();
    for (path, bytes) in entries {
        zip.start_file(*path, options).unwrap();
        zip.write_all(bytes).unwrap();
        use sha2::Digest as _;
        manifest_entries.push(serde_json::json!({"path": path, "size": bytes.len(), "sha256": hex::encode(sha2::Sha256::digest(bytes))}));
    }
    let manifest = listed.unwrap_or_else(|| {
        serde_json::json!({"format": "cartable.family-archive", "format_version": 1, "cartable_version": "0.1.0", "family_id": "f", "created_at": "t", "counts": {}, "entries": manifest_entries})
    });
    zip.start_file("manifest.json", options).unwrap();
    zip.write_all(manifest.to_string().as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

fn manifest_of(entries: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"format": "cartable.family-archive", "format_version": 1, "cartable_version": "0.1.0", "family_id": "f", "created_at": "t", "counts": {}, "entries": entries})
}

#[test]
fn hostile_archives_are_refused_at_open_with_what_is_wrong() {
    let refuse = |bytes: Vec<u8>, case: &str, ok: fn(&ArchiveError) -> bool| match open(bytes) {
        Err(e) if ok(&e) => assert!(!e.to_string().is_empty()),
        Err(e) => panic!("{case}: refused for another reason: {e}"),
        Ok(_) => panic!("{case}: accepted"),
    };
    refuse(b"PK\x03\x04 not really".to_vec(), "not a zip", |e| matches!(e, ArchiveError::NotAZip(_)));
    for (path, case) in [("/etc/passwd", "absolute"), ("a/../../x", "dot-dot"), ("a\\b", "backslash"), ("C:/boot.ini", "drive"), ("a//b", "empty component")] {
        refuse(crafted(&[(path, b"x")], None), case, |e| matches!(e, ArchiveError::UnsafePath { .. }));
    }
    // "é" composed and decomposed: one name after NFC.
    refuse(crafted(&[("\u{e9}.json", b"1"), ("e\u{301}.json", b"2")], None), "duplicate after NFC", |e| matches!(e, ArchiveError::Duplicate(_)));
    {
        // The writer refuses a duplicate name: the second name patched in place, in its headers and the manifest.
        let bytes = crafted(&[("a.json", b"1"), ("b.json", b"2")], None);
        let mut patched = bytes.clone();
        for at in bytes.windows(6).enumerate().filter(|(_, w)| *w == b"b.json").map(|(i, _)| i) {
            patched[at] = b'a';
        }
        refuse(patched, "duplicate", |e| matches!(e, ArchiveError::Duplicate(_)) || matches!(e, ArchiveError::NotAZip(_)));
    }
    {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        zip.add_symlink("link", "/etc/passwd", SimpleFileOptions::default()).unwrap();
        zip.start_file("manifest.json", SimpleFileOptions::default()).unwrap();
        zip.write_all(manifest_of(serde_json::json!([])).to_string().as_bytes()).unwrap();
        refuse(zip.finish().unwrap().into_inner(), "symlink", |e| matches!(e, ArchiveError::Symlink(_)));
    }
    {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        zip.add_directory("children/", SimpleFileOptions::default()).unwrap();
        refuse(zip.finish().unwrap().into_inner(), "directory", |e| matches!(e, ArchiveError::Directory(_)));
    }
    // Encrypted: the general-purpose flag's bit 0 set in the central directory.
    {
        let mut bytes = crafted(&[("a.json", b"{}")], None);
        let at = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        bytes[at + 8] |= 1;
        refuse(bytes, "encrypted", |e| matches!(e, ArchiveError::Encrypted(_)) || matches!(e, ArchiveError::NotAZip(_)));
    }
    // Overlapping: the second central entry pointed at the first's local header.
    {
        let mut bytes = crafted(&[("a.json", b"{}"), ("b.json", b"{}")], None);
        let centrals: Vec<usize> = bytes.windows(4).enumerate().filter(|(_, w)| *w == b"PK\x01\x02").map(|(i, _)| i).collect();
        let first_offset: [u8; 4] = bytes[centrals[0] + 42..centrals[0] + 46].try_into().unwrap();
        bytes[centrals[1] + 42..centrals[1] + 46].copy_from_slice(&first_offset);
        refuse(bytes, "overlap", |e| matches!(e, ArchiveError::Overlap { .. }) || matches!(e, ArchiveError::NotAZip(_)) || matches!(e, ArchiveError::Duplicate(_)));
    }
    // Limits: entries, sizes, ratio.
    let small = Limits { max_entries: 3, ..Limits::default() };
    assert!(matches!(ArchiveReader::open(Cursor::new(crafted(&[("a", b"1"), ("b", b"2"), ("c", b"3")], None)), &small), Err(ArchiveError::TooManyEntries { .. })));
    let tight = Limits { max_total_bytes: 10, ..Limits::default() };
    assert!(matches!(ArchiveReader::open(Cursor::new(crafted(&[("a", &[0u8; 11])], None)), &tight), Err(ArchiveError::TotalTooLarge { .. })));
    let tight = Limits { max_entry_bytes: 10, ..Limits::default() };
    assert!(matches!(ArchiveReader::open(Cursor::new(crafted(&[("a", &[0u8; 11])], None)), &tight), Err(ArchiveError::EntryTooLarge { .. })));
    {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("zeros.bin", SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)).unwrap();
        zip.write_all(&vec![0u8; 64 << 20]).unwrap();
        refuse(zip.finish().unwrap().into_inner(), "bomb", |e| matches!(e, ArchiveError::Ratio { .. }));
    }
    // The manifest against the entries.
    refuse(crafted(&[("a.json", b"{}")], Some(manifest_of(serde_json::json!([])))), "unlisted", |e| matches!(e, ArchiveError::Unlisted(_)));
    let listed = |size: u64, sha: &str| manifest_of(serde_json::json!([{"path": "a.json", "size": size, "sha256": sha}]));
    let good_sha = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    refuse(crafted(&[], Some(listed(2, good_sha))), "missing", |e| matches!(e, ArchiveError::Missing(_)));
    refuse(crafted(&[("a.json", b"{}")], Some(listed(3, good_sha))), "size", |e| matches!(e, ArchiveError::SizeMismatch { .. }));
    let mut wrong = open(crafted(&[("a.json", b"{}")], Some(listed(2, &"0".repeat(64))))).unwrap();
    assert!(matches!(wrong.verify_all(&mut |_, _| {}), Err(ArchiveError::HashMismatch(_))), "a hash mismatch is found when contents are checked");
    let mut right = open(crafted(&[("a.json", b"{}")], Some(listed(2, good_sha)))).unwrap();
    right.verify_all(&mut |_, _| {}).unwrap();
    let mut future = manifest_of(serde_json::json!([]));
    future["format_version"] = 2.into();
    refuse(crafted(&[], Some(future)), "version", |e| matches!(e, ArchiveError::Version(2)));
    let mut other = manifest_of(serde_json::json!([]));
    other["format"] = "something-else".into();
    refuse(crafted(&[], Some(other)), "format", |e| matches!(e, ArchiveError::Format(_)));
    refuse(crafted(&[("a.json", b"{}")], Some(serde_json::json!("not a manifest"))), "manifest", |e| matches!(e, ArchiveError::Manifest(_)));
    refuse(crafted(&[("a.json", b"{}")], Some(serde_json::json!({}))).into_iter().collect(), "manifest fields", |e| matches!(e, ArchiveError::Manifest(_)));
}

fn testdata() -> Option<std::path::PathBuf> {
    std::env::var_os("CARTABLE_TESTDATA").map(std::path::PathBuf::from).or_else(|| {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata");
        p.is_dir().then_some(p)
    })
}

#[test]
fn every_odd_broken_and_fuzz_seed_zip_ends_cleanly() {
    let Some(root) = testdata() else {
        eprintln!("skipped: ../shared/testdata is not here (CARTABLE_TESTDATA unset); scripts/test.sh sets it");
        return;
    };
    let mut stack = vec![root.join("zip")];
    let (mut files, mut refused) = (0, 0);
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            files += 1;
            match open(bytes) {
                Ok(mut reader) => {
                    let _ = reader.verify_all(&mut |_, _| {});
                }
                Err(e) => {
                    refused += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }
    assert!(files > 900, "{files} files");
    // None of them is a Cartable archive: every one is refused.
    assert_eq!(refused, files);
}
