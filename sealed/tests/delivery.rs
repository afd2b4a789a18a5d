//! Sealed delivery's stories, end to end: a vault, service instances, and the bytes between them.

use cartable_sealed::{
    CommitError, JoinError, KeyPackageError, MAX_SEALS_PER_EPOCH, OpenError, ProcessError,
    Processed, SealError, ServiceMember, StateError, VaultGroup,
};

const GRANT: &[u8] = b"grant-0001";
const KEY: [u8; 32] = [7; 32];

/// A vault group with the instances `names`, all joined, snapshotted and ready to seal.
fn group_with(names: &[&str]) -> (VaultGroup, Vec<ServiceMember>) {
    let mut vault = VaultGroup::create(GRANT, b"vault:family-1").unwrap();
    let mut instances: Vec<ServiceMember> = names
        .iter()
        .map(|n| ServiceMember::new(n.as_bytes()).unwrap())
        .collect();
    let key_packages: Vec<Vec<u8>> = instances
        .iter_mut()
        .map(|i| i.key_packages(1).unwrap().remove(0))
        .collect();
    let added = vault.add(&key_packages).unwrap();
    vault.snapshot().unwrap();
    let welcome = added.welcome.expect("a welcome");
    for instance in &mut instances {
        assert_eq!(instance.join(&welcome, vault.signature_key()).unwrap(), GRANT);
        assert_eq!(instance.epoch(GRANT), Some(vault.epoch()));
    }
    (vault, instances)
}

fn identities(vault: &VaultGroup) -> Vec<Vec<u8>> {
    vault.members().into_iter().map(|m| m.identity).collect()
}

#[test]
fn two_instances_open_then_a_retired_one_cannot() {
    let (mut vault, mut instances) = group_with(&["svc:a", "svc:b"]);
    assert_eq!(
        identities(&vault),
        [
            b"vault:family-1".to_vec(),
            b"svc:a".to_vec(),
            b"svc:b".to_vec()
        ]
    );

    let sealed = vault.seal(b"report card, term 1").unwrap();
    for instance in &mut instances {
        assert_eq!(
            instance.open(GRANT, &sealed).unwrap(),
            b"report card, term 1"
        );
    }

    // Retire instance a. A copy of its state that never sees the commit shows that not
    // processing it does not help either.
    let a_unaware = ServiceMember::restore(&instances[0].save(&KEY).unwrap(), &KEY).unwrap();
    let retired = vault.remove(&[b"svc:a"]).unwrap();
    assert!(retired.welcome.is_none());
    assert_eq!(
        identities(&vault),
        [b"vault:family-1".to_vec(), b"svc:b".to_vec()]
    );
    vault.snapshot().unwrap();
    assert_eq!(
        instances[0].process(&retired.commit).unwrap(),
        Processed::Removed
    );
    assert!(!instances[0].is_member(GRANT));
    assert_eq!(
        instances[1].process(&retired.commit).unwrap(),
        Processed::Epoch(retired.epoch)
    );
    assert!(instances[1].is_member(GRANT));

    let after = vault.seal(b"attendance, week 12").unwrap();
    assert_eq!(
        instances[1].open(GRANT, &after).unwrap(),
        b"attendance, week 12"
    );
    assert!(matches!(
        instances[0].open(GRANT, &after),
        Err(OpenError::UnknownGroup)
    ));
    let mut a_unaware = a_unaware;
    assert!(a_unaware.is_member(GRANT));
    assert!(matches!(
        a_unaware.open(GRANT, &after),
        Err(OpenError::CannotOpen(_))
    ));
}

#[test]
fn revocation_locks_every_instance_out_even_from_saved_state() {
    let (mut vault, mut instances) = group_with(&["svc:a", "svc:b"]);
    let before = vault.seal(b"before").unwrap();
    let saved: Vec<Vec<u8>> = instances.iter().map(|i| i.save(&KEY).unwrap()).collect();

    let revoked = vault
        .remove_all_services()
        .unwrap()
        .expect("two service members");
    assert_eq!(identities(&vault), [b"vault:family-1".to_vec()]);
    assert!(
        vault.remove_all_services().unwrap().is_none(),
        "nothing left to revoke"
    );
    vault.snapshot().unwrap();
    for instance in &mut instances {
        assert_eq!(
            instance.process(&revoked.commit).unwrap(),
            Processed::Removed
        );
        assert!(!instance.is_member(GRANT));
    }
    let after = vault.seal(b"after revocation").unwrap();
    let later = {
        vault.self_update().unwrap();
        vault.snapshot().unwrap();
        vault.seal(b"an epoch later").unwrap()
    };

    for bytes in &saved {
        // The full state from before the commit: it still reads what was sealed before...
        let mut restored = ServiceMember::restore(bytes, &KEY).unwrap();
        assert_eq!(restored.open(GRANT, &before).unwrap(), b"before");
        // ...and nothing after, with or without processing the revocation.
        assert!(matches!(
            restored.open(GRANT, &after),
            Err(OpenError::CannotOpen(_))
        ));
        assert!(matches!(
            restored.open(GRANT, &later),
            Err(OpenError::CannotOpen(_))
        ));
        assert_eq!(
            restored.process(&revoked.commit).unwrap(),
            Processed::Removed
        );
        assert!(restored.open(GRANT, &after).is_err());
    }
}

#[test]
fn messages_of_another_group_or_tampered_do_not_open() {
    let (mut vault, mut instances) = group_with(&["svc:a"]);
    let mut other = VaultGroup::create(b"grant-0002", b"vault:family-1").unwrap();
    let added = other.add(&instances[0].key_packages(1).unwrap()).unwrap();
    other.snapshot().unwrap();
    assert_eq!(
        instances[0]
            .join(added.welcome.as_deref().unwrap(), other.signature_key())
            .unwrap(),
        b"grant-0002"
    );
    let mut stranger = ServiceMember::new(b"svc:stranger").unwrap();

    let sealed = other.seal(b"for grant 2").unwrap();
    // Asked to open it as grant 1's: refused before any decryption.
    assert!(matches!(
        instances[0].open(GRANT, &sealed),
        Err(OpenError::WrongGroup)
    ));
    assert!(matches!(
        stranger.open(b"grant-0002", &sealed),
        Err(OpenError::UnknownGroup)
    ));

    let sealed = vault.seal(b"for grant 1").unwrap();
    for at in [sealed.len() - 1, sealed.len() / 2, 30] {
        let mut tampered = sealed.clone();
        tampered[at] ^= 0x01;
        assert!(
            instances[0].open(GRANT, &tampered).is_err(),
            "a flip at {at} opened"
        );
    }
    assert!(matches!(
        instances[0].open(GRANT, b"not mls"),
        Err(OpenError::Malformed)
    ));
    // A failed attempt used up nothing: the genuine message still opens, once.
    assert_eq!(instances[0].open(GRANT, &sealed).unwrap(), b"for grant 1");
    assert!(
        matches!(
            instances[0].open(GRANT, &sealed),
            Err(OpenError::CannotOpen(_))
        ),
        "a replay opened"
    );
    assert_eq!(
        instances[0]
            .open(b"grant-0002", &other.seal(b"two").unwrap())
            .unwrap(),
        b"two"
    );
}

#[test]
fn both_sides_restart_and_the_group_keeps_working() {
    let (mut vault, instances) = group_with(&["svc:a", "svc:b"]);
    let before = vault.seal(b"before the restart").unwrap();
    let snapshot = vault.snapshot().unwrap();
    let saved: Vec<Vec<u8>> = instances.iter().map(|i| i.save(&KEY).unwrap()).collect();
    let epoch = vault.epoch();
    let vault_key = vault.signature_key().to_vec();
    drop(vault);
    drop(instances);

    let (mut vault, rekey) = VaultGroup::from_snapshot(&snapshot).unwrap();
    // The key members pinned when they joined is the restored vault's too.
    assert_eq!(vault.signature_key(), vault_key);
    assert_eq!(rekey.epoch, epoch + 1);
    assert_eq!(vault.epoch(), epoch + 1);
    assert!(rekey.welcome.is_none());
    // The rekey commit is not persisted yet: sealing waits.
    assert!(matches!(
        vault.seal(b"too soon"),
        Err(SealError::SnapshotRequired)
    ));
    vault.snapshot().unwrap();
    let after = vault.seal(b"after the restart").unwrap();

    let mut instances: Vec<ServiceMember> = saved
        .iter()
        .map(|s| ServiceMember::restore(s, &KEY).unwrap())
        .collect();
    for instance in &mut instances {
        assert!(instance.is_member(GRANT));
        assert_eq!(
            instance.process(&rekey.commit).unwrap(),
            Processed::Epoch(epoch + 1)
        );
        // A response sealed just before the commit still opens after it (a past epoch).
        assert_eq!(
            instance.open(GRANT, &before).unwrap(),
            b"before the restart"
        );
        assert_eq!(instance.open(GRANT, &after).unwrap(), b"after the restart");
    }

    // The restored group still changes membership.
    let mut c = ServiceMember::new(b"svc:c").unwrap();
    let added = vault.add(&c.key_packages(1).unwrap()).unwrap();
    vault.snapshot().unwrap();
    c.join(added.welcome.as_deref().unwrap(), &vault_key).unwrap();
    for instance in &mut instances {
        instance.process(&added.commit).unwrap();
    }
    let sealed = vault.seal(b"three readers").unwrap();
    for instance in instances.iter_mut().chain([&mut c]) {
        assert_eq!(instance.open(GRANT, &sealed).unwrap(), b"three readers");
    }
}

#[test]
fn a_restored_vault_never_reuses_a_sealed_generation() {
    let (mut vault, mut instances) = group_with(&["svc:a"]);
    let snapshot = vault.snapshot().unwrap();
    let sealed_before_crash = vault.seal(b"sealed, then the vault crashed").unwrap();
    let (mut restored, rekey) = VaultGroup::from_snapshot(&snapshot).unwrap();
    assert_eq!(restored.epoch(), vault.epoch() + 1);
    restored.snapshot().unwrap();
    let sealed_after = restored.seal(b"first message after the restart").unwrap();

    // Both messages open, each once: had the restored vault sealed from the snapshot's ratchet,
    // the second would be the first's generation again, and refused as a reuse (or worse, opened
    // under the same key and nonce).
    let a = &mut instances[0];
    // The instance still at the old epoch cannot open the new epoch's message.
    assert!(a.open(GRANT, &sealed_after).is_err());
    a.process(&rekey.commit).unwrap();
    assert_eq!(
        a.open(GRANT, &sealed_before_crash).unwrap(),
        b"sealed, then the vault crashed"
    );
    assert_eq!(
        a.open(GRANT, &sealed_after).unwrap(),
        b"first message after the restart"
    );
}

#[test]
fn saved_state_with_a_wrong_key_or_tampered_is_refused() {
    let (_vault, instances) = group_with(&["svc:a"]);
    let saved = instances[0].save(&KEY).unwrap();
    assert!(matches!(
        ServiceMember::restore(&saved, &[8; 32]),
        Err(StateError::WrongKeyOrTampered)
    ));
    for at in [4, 10, saved.len() / 2, saved.len() - 1] {
        let mut tampered = saved.clone();
        tampered[at] ^= 0x80;
        assert!(matches!(
            ServiceMember::restore(&tampered, &KEY),
            Err(StateError::WrongKeyOrTampered)
        ));
    }
    assert!(matches!(
        ServiceMember::restore(&saved[..20], &KEY),
        Err(StateError::WrongKeyOrTampered)
    ));
    assert!(matches!(
        ServiceMember::restore(b"garbage", &KEY),
        Err(StateError::Malformed)
    ));
    assert!(matches!(
        ServiceMember::restore(&[], &KEY),
        Err(StateError::Malformed)
    ));
    // Saving twice gives different bytes (a fresh nonce) that both restore.
    let again = instances[0].save(&KEY).unwrap();
    assert_ne!(saved, again);
    assert!(
        ServiceMember::restore(&again, &KEY)
            .unwrap()
            .is_member(GRANT)
    );

    // The vault's snapshot is plaintext, but garbage and truncations are still refused cleanly.
    let (mut vault, _) = group_with(&["svc:b"]);
    let snapshot = vault.snapshot().unwrap();
    assert!(matches!(
        VaultGroup::from_snapshot(b"garbage"),
        Err(StateError::Malformed)
    ));
    for cut in [0, 4, 9, snapshot.len() / 2, snapshot.len() - 1] {
        assert!(
            VaultGroup::from_snapshot(&snapshot[..cut]).is_err(),
            "a cut at {cut} restored"
        );
    }
}

#[test]
fn bad_key_packages_are_refused_and_the_group_is_unchanged() {
    let (mut vault, mut instances) = group_with(&["svc:a"]);
    let epoch = vault.epoch();
    let members = vault.members();
    let mut b = ServiceMember::new(b"svc:b").unwrap();
    let good = b.key_packages(1).unwrap().remove(0);

    let mut bad_signature = good.clone();
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 0x01;
    type Expect = fn(&KeyPackageError) -> bool;
    let cases: Vec<(Vec<u8>, Expect)> = vec![
        (b"garbage".to_vec(), |e| *e == KeyPackageError::Malformed),
        (Vec::new(), |e| *e == KeyPackageError::Malformed),
        (good[..good.len() - 3].to_vec(), |e| {
            *e == KeyPackageError::Malformed
        }),
        (bad_signature, |e| matches!(e, KeyPackageError::Invalid(_))),
        (other_ciphersuite_key_package(), |e| {
            matches!(e, KeyPackageError::WrongCiphersuite(..))
        }),
    ];
    for (bytes, expected) in cases {
        // The bad one comes second: the good one before it is not added either.
        match vault.add(&[good.clone(), bytes]) {
            Err(CommitError::KeyPackage { index: 1, reason }) => {
                assert!(expected(&reason), "{reason}")
            }
            other => panic!("expected a refused key package, got {other:?}"),
        }
        assert_eq!(vault.epoch(), epoch);
        assert_eq!(vault.members(), members);
    }
    // A welcome is not a key package; an identity already in the group is refused.
    let again = instances[0].key_packages(1).unwrap();
    assert!(matches!(vault.add(&again), Err(CommitError::DuplicateMember(id)) if id == b"svc:a"));
    assert!(matches!(
        vault.add(&[good.clone(), good.clone()]),
        Err(CommitError::DuplicateMember(_))
    ));
    assert!(matches!(vault.add(&[]), Err(CommitError::Empty)));
    assert!(matches!(
        vault.remove(&[b"svc:nobody"]),
        Err(CommitError::UnknownMember(_))
    ));
    assert!(matches!(
        vault.remove(&[b"vault:family-1"]),
        Err(CommitError::CannotRemoveVault)
    ));
    assert_eq!(vault.epoch(), epoch);

    // The group still works, and the good key package still joins.
    let sealed = vault.seal(b"still here").unwrap();
    assert_eq!(instances[0].open(GRANT, &sealed).unwrap(), b"still here");
    let added = vault.add(&[good]).unwrap();
    vault.snapshot().unwrap();
    b.join(added.welcome.as_deref().unwrap(), vault.signature_key()).unwrap();
    instances[0].process(&added.commit).unwrap();
    let sealed = vault.seal(b"two readers").unwrap();
    assert_eq!(b.open(GRANT, &sealed).unwrap(), b"two readers");
    assert_eq!(instances[0].open(GRANT, &sealed).unwrap(), b"two readers");
}

/// A well-signed KeyPackage for AES-128-GCM instead of the groups' ChaCha20-Poly1305.
fn other_ciphersuite_key_package() -> Vec<u8> {
    use openmls::prelude::*;
    use openmls_basic_credential::SignatureKeyPair;
    let provider = openmls_libcrux_crypto::Provider::new().unwrap();
    let suite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;
    let signer = SignatureKeyPair::new(suite.signature_algorithm()).unwrap();
    let credential = CredentialWithKey {
        credential: BasicCredential::new(b"svc:aes".to_vec()).into(),
        signature_key: signer.public().into(),
    };
    let bundle = KeyPackage::builder()
        .build(suite, &provider, &signer, credential)
        .unwrap();
    MlsMessageOut::from(bundle.key_package().clone())
        .to_bytes()
        .unwrap()
}

#[test]
fn messages_of_one_epoch_open_in_any_order_and_past_epochs_still_open() {
    let (mut vault, mut instances) = group_with(&["svc:a", "svc:b"]);
    let sealed: Vec<Vec<u8>> = (0..20)
        .map(|i| vault.seal(format!("response {i}").as_bytes()).unwrap())
        .collect();

    // a gets them backwards, b interleaved from both ends; each opens every one exactly once.
    for i in (0..20).rev() {
        assert_eq!(
            instances[0].open(GRANT, &sealed[i]).unwrap(),
            format!("response {i}").as_bytes()
        );
    }
    let order: Vec<usize> = (0..10).flat_map(|i| [19 - i, i]).collect();
    for i in order {
        assert_eq!(
            instances[1].open(GRANT, &sealed[i]).unwrap(),
            format!("response {i}").as_bytes()
        );
    }

    // Responses sealed before a commit, delivered after it.
    let late = vault.seal(b"late").unwrap();
    let update = vault.self_update().unwrap();
    vault.snapshot().unwrap();
    let fresh = vault.seal(b"fresh").unwrap();
    let a = &mut instances[0];
    a.process(&update.commit).unwrap();
    assert_eq!(a.open(GRANT, &fresh).unwrap(), b"fresh");
    assert_eq!(a.open(GRANT, &late).unwrap(), b"late");

    // A commit delivered twice is reported, not applied twice; an application message is not a
    // commit, and a commit is not an application message.
    assert!(matches!(
        a.process(&update.commit),
        Err(ProcessError::WrongEpoch { .. })
    ));
    assert!(matches!(a.process(&fresh), Err(ProcessError::NotACommit)));
    assert!(matches!(
        a.open(GRANT, &update.commit),
        Err(OpenError::NotAnApplicationMessage)
    ));
    assert!(matches!(
        a.join(&update.commit, vault.signature_key()),
        Err(JoinError::NotAWelcome)
    ));
    assert!(matches!(
        a.process(b"\x00\x01garbage"),
        Err(ProcessError::Malformed)
    ));
}

#[test]
fn a_gap_of_a_whole_epoch_opens_and_the_epoch_then_needs_a_rekey() {
    let (mut vault, mut instances) = group_with(&["svc:a"]);
    // Responses for other instances: this one never sees them.
    let mut last = Vec::new();
    for _ in 0..MAX_SEALS_PER_EPOCH {
        last = vault.seal(b"x").unwrap();
    }
    assert!(matches!(
        vault.seal(b"one too many"),
        Err(SealError::EpochExhausted(_))
    ));
    assert_eq!(instances[0].open(GRANT, &last).unwrap(), b"x");
    let update = vault.self_update().unwrap();
    vault.snapshot().unwrap();
    instances[0].process(&update.commit).unwrap();
    assert_eq!(
        instances[0]
            .open(GRANT, &vault.seal(b"next epoch").unwrap())
            .unwrap(),
        b"next epoch"
    );
}

#[test]
fn every_change_needs_a_snapshot_before_sealing() {
    let mut vault = VaultGroup::create(GRANT, b"vault:family-1").unwrap();
    assert!(matches!(vault.seal(b"x"), Err(SealError::SnapshotRequired)));
    vault.snapshot().unwrap();
    vault.seal(b"to nobody yet").unwrap();
    let mut a = ServiceMember::new(b"svc:a").unwrap();
    vault.add(&a.key_packages(2).unwrap()[..1]).unwrap();
    assert!(matches!(vault.seal(b"x"), Err(SealError::SnapshotRequired)));
    vault.snapshot().unwrap();
    vault.self_update().unwrap();
    assert!(matches!(vault.seal(b"x"), Err(SealError::SnapshotRequired)));
    vault.snapshot().unwrap();
    vault.seal(b"x").unwrap();
    assert!(VaultGroup::create(b"", b"v").is_err());
    assert!(ServiceMember::new(b"").is_err());
}

#[test]
fn only_the_vault_is_listened_to() {
    use openmls::prelude::tls_codec::Deserialize as _;
    use openmls::prelude::*;
    use openmls_basic_credential::SignatureKeyPair;

    let (mut vault, mut instances) = group_with(&["svc:a"]);
    // A rogue member: a real member of the group, driving openmls directly.
    let provider = openmls_libcrux_crypto::Provider::new().unwrap();
    let suite = cartable_sealed::CIPHERSUITE;
    let signer = SignatureKeyPair::new(suite.signature_algorithm()).unwrap();
    let credential = CredentialWithKey {
        credential: BasicCredential::new(b"svc:rogue".to_vec()).into(),
        signature_key: signer.public().into(),
    };
    let bundle = KeyPackage::builder()
        .build(suite, &provider, &signer, credential)
        .unwrap();
    let key_package = MlsMessageOut::from(bundle.key_package().clone())
        .to_bytes()
        .unwrap();
    let added = vault.add(&[key_package]).unwrap();
    vault.snapshot().unwrap();
    instances[0].process(&added.commit).unwrap();
    let welcome = MlsMessageIn::tls_deserialize_exact(added.welcome.unwrap().as_slice()).unwrap();
    let MlsMessageBodyIn::Welcome(welcome) = welcome.extract() else {
        panic!("not a welcome")
    };
    let join = MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .build();
    let mut rogue = StagedWelcome::new_from_welcome(&provider, &join, welcome, None)
        .unwrap()
        .into_group(&provider)
        .unwrap();

    let forged = rogue
        .create_message(&provider, &signer, b"forged grades")
        .unwrap()
        .to_bytes()
        .unwrap();
    assert!(matches!(
        instances[0].open(GRANT, &forged),
        Err(OpenError::NotFromVault)
    ));
    let epoch = instances[0].epoch(GRANT);
    let coup = rogue
        .remove_members(&provider, &signer, &[LeafNodeIndex::new(0)])
        .unwrap()
        .0
        .to_bytes()
        .unwrap();
    assert!(matches!(
        instances[0].process(&coup),
        Err(ProcessError::NotFromVault)
    ));
    assert_eq!(instances[0].epoch(GRANT), epoch);
    // The vault's own messages still open.
    assert_eq!(
        instances[0]
            .open(GRANT, &vault.seal(b"genuine").unwrap())
            .unwrap(),
        b"genuine"
    );
}

#[test]
fn a_welcome_from_another_key_than_the_vaults_is_refused() {
    let mut vault = VaultGroup::create(GRANT, b"vault:family-1").unwrap();
    let mut instance = ServiceMember::new(b"svc:a").unwrap();
    // Someone who can write into the mailbox, with the instance's published KeyPackage, makes a
    // group of the same id and name and sends its Welcome.
    let mut rogue = VaultGroup::create(GRANT, b"vault:family-1").unwrap();
    let added = rogue.add(&instance.key_packages(1).unwrap()).unwrap();
    rogue.snapshot().unwrap();
    assert!(matches!(
        instance.join(added.welcome.as_deref().unwrap(), vault.signature_key()),
        Err(JoinError::NotTheVault)
    ));
    assert!(!instance.is_member(GRANT));
    assert!(rogue.seal(b"bait").is_ok());

    // The vault's own Welcome is taken.
    let added = vault.add(&instance.key_packages(1).unwrap()).unwrap();
    vault.snapshot().unwrap();
    assert_eq!(
        instance.join(added.welcome.as_deref().unwrap(), vault.signature_key()).unwrap(),
        GRANT
    );
    let sealed = vault.seal(b"grades").unwrap();
    assert_eq!(instance.open(GRANT, &sealed).unwrap(), b"grades");
}
