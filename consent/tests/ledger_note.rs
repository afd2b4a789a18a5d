//! Signed checkpoints (C2SP signed-note, tlog-checkpoint) and offline proofs (C2SP tlog-proof).

mod ledger_support;

use anyhow::Result;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cartable_consent::ledger::{
    self, Checkpoint, CheckpointError, KeyError, LedgerSigner, LedgerVerifier, NoteError, ParseProofError, ProofError,
    TlogProof,
};
use ledger_support::StoredLog;

const NAME: &str = "cartable.example/ledger";
const ORIGIN: &str = "cartable.example/ledger/0190aa00-0000-7000-8000-000000000001";

fn signer() -> LedgerSigner {
    LedgerSigner::from_secret_bytes(NAME, &[42; 32]).unwrap()
}

fn checkpoint(log: &StoredLog, size: u64) -> Checkpoint {
    Checkpoint::new(ORIGIN, size, log.roots[size as usize]).unwrap()
}

#[test]
fn checkpoint_body_is_the_c2sp_text() -> Result<()> {
    let root = [0xab; 32];
    let cp = Checkpoint::new("example.com/log42", 20852163, root)?;
    let body = format!("example.com/log42\n20852163\n{}\n", STANDARD.encode(root));
    assert_eq!(cp.to_body(), body);
    assert_eq!(Checkpoint::parse_body(&body)?, cp);
    assert_eq!(Checkpoint::new("", 0, root), Err(CheckpointError::Origin));
    assert_eq!(Checkpoint::new("a\nb", 0, root), Err(CheckpointError::Origin));

    let r64 = STANDARD.encode(root);
    for (text, want) in [
        (format!("o\n012\n{r64}\n"), CheckpointError::Size("012".into())),
        (format!("o\n-1\n{r64}\n"), CheckpointError::Size("-1".into())),
        (format!("o\n18446744073709551616\n{r64}\n"), CheckpointError::Size("18446744073709551616".into())),
        (format!("o\n1\n{}\n", STANDARD.encode([0; 31])), CheckpointError::Root(STANDARD.encode([0; 31]))),
        (format!("o\n1\n{r64}"), CheckpointError::Lines),
        (format!("o\n1\n{r64}\next\n"), CheckpointError::Lines),
        (format!("\n1\n{r64}\n"), CheckpointError::Origin),
    ] {
        assert_eq!(Checkpoint::parse_body(&text), Err(want), "{text:?}");
    }
    Ok(())
}

#[test]
fn signed_checkpoints_verify_with_the_printed_key() -> Result<()> {
    let log = StoredLog::sized(5)?;
    let cp = checkpoint(&log, 5);
    let note = signer().sign_checkpoint(&cp);

    let key = signer().verifier_key();
    let (name, rest) = key.split_once('+').unwrap();
    let (id, public) = rest.split_once('+').unwrap();
    assert_eq!(name, NAME);
    assert_eq!(id.len(), 8);
    assert_eq!(STANDARD.decode(public)?.len(), 33);
    assert!(public.starts_with('A'), "the key starts with the ed25519 type byte 0x01");

    let (body, signature) = note.split_once("\n\n").unwrap();
    assert_eq!(format!("{body}\n"), cp.to_body());
    let blob = signature.strip_prefix(&format!("\u{2014} {NAME} ")).unwrap().strip_suffix('\n').unwrap();
    let blob = STANDARD.decode(blob)?;
    assert_eq!(blob.len(), 68);
    assert_eq!(format!("{:02x}{:02x}{:02x}{:02x}", blob[0], blob[1], blob[2], blob[3]), id);

    let verifier = LedgerVerifier::parse(&key)?;
    assert_eq!(verifier.verify_note(&note)?, cp);
    assert_eq!(verifier.to_string(), key);
    // Surrounding whitespace (a key file's newline) is forgiven.
    assert_eq!(LedgerVerifier::parse(&format!("{key}\n"))?, verifier);
    Ok(())
}

#[test]
fn notes_from_other_keys_or_tampered_are_refused() -> Result<()> {
    let log = StoredLog::sized(5)?;
    let note = signer().sign_checkpoint(&checkpoint(&log, 5));
    let verifier = signer().verifier();

    // Another key under the same name, or the same key under another name: not our key, so not signed.
    let other_key = LedgerSigner::from_secret_bytes(NAME, &[7; 32])?;
    let other_name = LedgerSigner::from_secret_bytes("cartable.example/other", &[42; 32])?;
    for other in [&other_key, &other_name] {
        let note = other.sign_checkpoint(&checkpoint(&log, 5));
        assert!(matches!(verifier.verify_note(&note), Err(NoteError::NotSigned(_))), "{other:?}");
    }
    // Our key id with a bad signature, or a changed body.
    let (body, sig_line) = note.split_once("\n\n").unwrap();
    let blob = STANDARD.decode(sig_line.trim_end().rsplit(' ').next().unwrap())?;
    let mut bad = blob.clone();
    bad[10] ^= 1;
    let forged = format!("{body}\n\n\u{2014} {NAME} {}\n", STANDARD.encode(&bad));
    assert!(matches!(verifier.verify_note(&forged), Err(NoteError::BadSignature(_))));
    let changed = note.replacen("\n5\n", "\n6\n", 1);
    assert!(matches!(verifier.verify_note(&changed), Err(NoteError::BadSignature(_))));
    // A wrong key id under our name is another key.
    let mut wrong_id = blob.clone();
    wrong_id[0] ^= 1;
    let wrong = format!("{body}\n\n\u{2014} {NAME} {}\n", STANDARD.encode(&wrong_id));
    assert!(matches!(verifier.verify_note(&wrong), Err(NoteError::NotSigned(_))));

    // Malformed notes.
    for malformed in [
        note.trim_end().to_string(),
        note.replace("\n\n", "\n"),
        note.replace('\u{2014}', "--"),
        note.replace('\u{2014}', "\u{2013}"),
        format!("{note}\u{2014} {NAME}\n"),
        format!("{note}\u{2014} {NAME} !!!\n"),
        format!("{note}\u{2014} {NAME} AAAA\n"),
        note.replace('\n', "\r\n"),
        note.replacen(ORIGIN, &format!("{ORIGIN}\u{7}"), 1),
    ] {
        assert!(matches!(verifier.verify_note(&malformed), Err(NoteError::Malformed(_))), "{malformed:?}");
    }
    let many = format!("{note}{}", "\u{2014} witness.example AAAAAAE=\n".repeat(100));
    assert_eq!(verifier.verify_note(&many), Err(NoteError::TooManySignatures));
    Ok(())
}

#[test]
fn cosignatures_by_other_keys_are_ignored() -> Result<()> {
    let log = StoredLog::sized(5)?;
    let cp = checkpoint(&log, 5);
    let witness = LedgerSigner::from_secret_bytes("witness.example", &[1; 32])?.sign_checkpoint(&cp);
    let witness_line = witness.split_once("\n\n").unwrap().1;
    let ours = signer().sign_checkpoint(&cp);
    let ours_line = ours.split_once("\n\n").unwrap().1;
    // Both orders, as a witness may add its line before or after the log's.
    for note in [format!("{}{witness_line}", ours), format!("{}\n\n{witness_line}{ours_line}", cp.to_body().trim_end())]
    {
        assert_eq!(signer().verifier().verify_note(&note)?, cp, "{note}");
    }
    Ok(())
}

#[test]
fn bad_verifier_keys_and_names_are_refused() {
    let key = signer().verifier_key();
    let (name, rest) = key.split_once('+').unwrap();
    let (id, public) = rest.split_once('+').unwrap();
    let mut bytes = STANDARD.decode(public).unwrap();
    bytes[0] = 0x04;
    assert_eq!(LedgerVerifier::parse(&format!("{name}+{id}+{}", STANDARD.encode(&bytes))), Err(KeyError::Algorithm(4)));
    assert_eq!(LedgerVerifier::parse(&format!("{name}+00000000+{public}")), Err(KeyError::KeyId));
    assert_eq!(LedgerVerifier::parse(&format!("other+{id}+{public}")), Err(KeyError::KeyId));
    assert!(matches!(LedgerVerifier::parse(&format!("{name}+{id}")), Err(KeyError::Malformed(_))));
    assert!(matches!(LedgerVerifier::parse(&format!("{name}+{id}+{}", &public[..40])), Err(KeyError::Malformed(_))));
    // The identity point is a low-order key that "verifies" too much.
    let mut weak = vec![1u8, 1];
    weak.extend([0; 31]);
    assert!(LedgerVerifier::parse(&format!("{name}+{id}+{}", STANDARD.encode(&weak))).is_err());
    for bad in ["", "a b", "a+b", "tab\there"] {
        assert!(matches!(LedgerSigner::from_secret_bytes(bad, &[0; 32]), Err(KeyError::Name(_))), "{bad:?}");
    }
}

#[test]
fn tlog_proof_text_follows_c2sp() -> Result<()> {
    let log = StoredLog::sized(7)?;
    let note = signer().sign_checkpoint(&checkpoint(&log, 7));
    let proof = TlogProof {
        index: 3,
        hashes: ledger::inclusion_proof(3, 7, &log.nodes)?,
        checkpoint_note: note.clone(),
        extra: Some(b"entry 3".to_vec()),
    };
    let mut want = format!("c2sp.org/tlog-proof@v1\nextra {}\nindex 3\n", STANDARD.encode(b"entry 3"));
    for h in &proof.hashes {
        want.push_str(&format!("{}\n", STANDARD.encode(h)));
    }
    want.push('\n');
    want.push_str(&note);
    assert_eq!(proof.to_text(), want);
    assert_eq!(TlogProof::parse(&want)?, proof);

    let bare = TlogProof { extra: None, ..proof.clone() };
    assert!(bare.to_text().starts_with("c2sp.org/tlog-proof@v1\nindex 3\n"));
    assert_eq!(TlogProof::parse(&bare.to_text())?, bare);
    Ok(())
}

#[test]
fn the_spec_example_parses() -> Result<()> {
    // The example of c2sp.org/tlog-proof (signatures elided there, so only the layout is checked).
    let text = "c2sp.org/tlog-proof@v1\n\
        extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n\
        index 73894\n\
        gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n\
        B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n\
        \n\
        example.com/fancylog\n\
        109482\n\
        sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\
        \n\
        \u{2014} example.com/fancylog hI2DJw==\n";
    let proof = TlogProof::parse(text)?;
    assert_eq!(proof.index, 73894);
    assert_eq!(proof.hashes.len(), 2);
    assert!(proof.checkpoint_note.starts_with("example.com/fancylog\n109482\n"));
    assert_eq!(proof.to_text(), text);
    Ok(())
}

#[test]
fn tlog_proofs_verify_offline_and_refuse_tampering() -> Result<()> {
    let log = StoredLog::sized(7)?;
    let entry = b"entry 3".to_vec();
    let cp = checkpoint(&log, 7);
    let proof = TlogProof {
        index: 3,
        hashes: ledger::inclusion_proof(3, 7, &log.fetch(&ledger::inclusion_keys(3, 7)))?,
        checkpoint_note: signer().sign_checkpoint(&cp),
        extra: Some(entry.clone()),
    };
    let verifier = LedgerVerifier::parse(&signer().verifier_key())?;
    let parsed = TlogProof::parse(&proof.to_text())?;
    assert_eq!(parsed.verify_entry(&verifier)?, cp);
    assert_eq!(parsed.verify(&verifier, ledger::leaf_hash(&entry))?, cp);

    let wrong_entry = TlogProof { extra: Some(b"entry 4".to_vec()), ..proof.clone() };
    assert_eq!(wrong_entry.verify_entry(&verifier), Err(ProofError::RootMismatch));
    let wrong_index = TlogProof { index: 4, ..proof.clone() };
    assert!(wrong_index.verify_entry(&verifier).is_err());
    let no_entry = TlogProof { extra: None, ..proof.clone() };
    assert_eq!(no_entry.verify_entry(&verifier), Err(ProofError::MissingEntry));
    let other = LedgerSigner::from_secret_bytes(NAME, &[7; 32])?.verifier();
    assert!(matches!(proof.verify_entry(&other), Err(ProofError::Checkpoint(NoteError::NotSigned(_)))));
    // A checkpoint of another size with the same signature does not verify.
    let resized = TlogProof { checkpoint_note: proof.checkpoint_note.replacen("\n7\n", "\n8\n", 1), ..proof.clone() };
    assert!(matches!(resized.verify_entry(&verifier), Err(ProofError::Checkpoint(NoteError::BadSignature(_)))));

    let text = proof.to_text();
    for (bad, want) in [
        (text.replacen("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2", 1), ParseProofError::Header),
        (text.replacen("index 3", "index 03", 1), ParseProofError::Index("03".into())),
        (text.replacen("index 3\n", "", 1), ParseProofError::Malformed("expected the `index` line")),
        (
            text.split("\n\n").next().unwrap().to_string() + "\n\n",
            ParseProofError::Malformed("no checkpoint after the hashes"),
        ),
        (text.replacen("index 3\n", "index 3\nAAAA\n", 1), ParseProofError::Hash("AAAA".into())),
    ] {
        assert_eq!(TlogProof::parse(&bad), Err(want), "{bad:?}");
    }
    let many =
        text.replacen("index 3\n", &format!("index 3\n{}", format!("{}\n", STANDARD.encode([0; 32])).repeat(65)), 1);
    assert_eq!(TlogProof::parse(&many), Err(ParseProofError::TooManyHashes));
    Ok(())
}

#[test]
fn old_checkpoints_stay_consistent_and_forks_are_caught() -> Result<()> {
    let log = StoredLog::sized(100)?;
    let verifier = signer().verifier();
    let old = verifier.verify_note(&signer().sign_checkpoint(&checkpoint(&log, 37)))?;
    let new = verifier.verify_note(&signer().sign_checkpoint(&checkpoint(&log, 100)))?;
    let proof = ledger::consistency_proof(old.size(), new.size(), &log.fetch(&ledger::consistency_keys(37, 100)))?;
    ledger::verify_consistency(old.size(), new.size(), old.root(), new.root(), &proof)?;

    // The server rewrites entry 20 and signs a new checkpoint: it cannot prove it consistent with the old one.
    let forked =
        StoredLog::with_leaves((0..100).map(|i| {
            ledger::leaf_hash(if i == 20 { "rewritten".to_string() } else { format!("entry {i}") }.as_bytes())
        }))?;
    let forked_new = checkpoint(&forked, 100);
    let forked_proof = ledger::consistency_proof(37, 100, &forked.nodes)?;
    assert!(ledger::verify_consistency(37, 100, old.root(), forked_new.root(), &forked_proof).is_err());
    assert!(ledger::verify_consistency(37, 100, old.root(), forked_new.root(), &proof).is_err());
    Ok(())
}
