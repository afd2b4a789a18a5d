//! Any bytes given to the archive reader: it opens them or refuses them, checks every entry it accepted, and never
//! panics, hangs or allocates past its limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = cartable_export::Limits { max_entries: 1_000, max_total_bytes: 64 << 20, max_entry_bytes: 16 << 20, max_ratio: 200, max_manifest_bytes: 1 << 20 };
    if let Ok(mut reader) = cartable_export::ArchiveReader::open(std::io::Cursor::new(data), &limits) {
        let _ = reader.verify_all(&mut |_, _| {});
    }
});
