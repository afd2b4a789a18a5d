//! The consent ledger as stored by the vault: tampering with any row is found and the entry named; checkpoints
//! signed earlier catch a history rewritten consistently; old checkpoints stay consistent with new ones.

use cartable_consent::ledger::{self as tlog, NodeKey};
use cartable_consent::{Action, Doctype, FamilyId, ForbidScope, LegalBasis, Principal, Resource, Role};
use cartable_vault::{NewRecord, NewRequest, Vault, VaultConfig, VerifyError};
use sqlx::{AnyConnection, Connection, Row};
use support::backends;

mod support;
use time::macros::date;

struct Fixture {
    _dir: tempfile::TempDir,
    url: String,
    vault: Vault,
    family: FamilyId,
}

async fn fixture(postgres: bool) -> Fixture {
    let base = support::fixture(postgres).await;
    let url = base.database_url();
    let dir = base.dir;
    let vault = Vault::open(base.config).await.unwrap();
    let family = vault.create_family("Ledger").await.unwrap();
    let guardian = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Guardian, "Parent", None).await.unwrap();
    let child = vault.add_member(&vault.as_operator(family, cartable_consent::Action::Manage, cartable_consent::Resource::Family).await.unwrap(), Role::Child, "Enfant", Some(date!(2015 - 03 - 01))).await.unwrap();
    let service = vault.register_service("Tutorat", None, "hash", true).await.unwrap();
    // A grant's life: request, approve, accesses, revoke; a denied request; a prohibition; some writes.
    let request = |doctypes: Vec<Doctype>| NewRequest {
        service,
        family,
        child,
        doctypes,
        actions: vec![Action::Read, Action::List],
        purpose: "soutien scolaire".into(),
        legal_basis: LegalBasis::Consent,
        duration_days: 30,
    };
    let g1 = vault.create_request(request(vec![Doctype::Grades])).await.unwrap();
    let as_guardian = |resource| vault.authorize(family, Principal::Member(guardian), Action::Manage, resource);
    let manage = |doctype| Resource::Collection { child, doctype };
    vault.approve(&as_guardian(manage(Doctype::Grades)).await.unwrap().into_permit().unwrap(), g1, None).await.unwrap();
    let write = vault
        .authorize(family, Principal::Operator, Action::Write, Resource::Collection { child, doctype: Doctype::Grades })
        .await
        .unwrap()
        .into_permit()
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(vault.put_record(&write, NewRecord { child, doctype: Doctype::Grades, source: "operator".into(), body: serde_json::json!({"n": i}) }).await.unwrap());
    }
    for id in &ids {
        let resource = vault.record_resource(family, *id).await.unwrap();
        assert!(vault.authorize(family, Principal::Service(service), Action::Read, resource).await.unwrap().is_allowed());
    }
    let g2 = vault.create_request(request(vec![Doctype::Homework])).await.unwrap();
    vault.deny(&as_guardian(manage(Doctype::Homework)).await.unwrap().into_permit().unwrap(), g2, None).await.unwrap();
    let family_manager = as_guardian(Resource::Family).await.unwrap().into_permit().unwrap();
    vault.forbid(&family_manager, Doctype::HealthPai, ForbidScope::Minors, None).await.unwrap();
    vault.revoke(&as_guardian(manage(Doctype::Grades)).await.unwrap().into_permit().unwrap(), g1, None).await.unwrap();
    let resource = vault.record_resource(family, ids[0]).await.unwrap();
    assert!(!vault.authorize(family, Principal::Service(service), Action::Read, resource).await.unwrap().is_allowed());
    Fixture { _dir: dir, url, vault, family }
}

async fn conn(url: &str) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(url).await.unwrap()
}

async fn entry(c: &mut AnyConnection, family: FamilyId, idx: i64) -> Vec<u8> {
    sqlx::query("SELECT entry FROM ledger_entries WHERE family_id = $1 AND idx = $2")
        .bind(family.to_string())
        .bind(idx)
        .fetch_one(c)
        .await
        .unwrap()
        .get(0)
}

async fn set_entry(c: &mut AnyConnection, family: FamilyId, idx: i64, bytes: Vec<u8>) {
    sqlx::query("UPDATE ledger_entries SET entry = $1 WHERE family_id = $2 AND idx = $3").bind(bytes).bind(family.to_string()).bind(idx).execute(c).await.unwrap();
}

/// `verify_ledger` must fail and name entry `index`.
async fn broken_at(vault: &Vault, family: FamilyId, index: u64, what: &str) {
    match vault.verify_ledger(family).await {
        Err(VerifyError::Broken { index: got, reason, .. }) => assert_eq!(got, index, "{what}: named entry {got} ({reason})"),
        other => panic!("{what}: expected a broken ledger at entry {index}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_tampered_row_is_found_and_the_entry_named() {
    for postgres in backends() {
        let fx = fixture(postgres).await;
        let (vault, family) = (&fx.vault, fx.family);
        let report = vault.verify_ledger(family).await.unwrap();
        assert_eq!(report.grants_checked, 2);
        let size = report.size as i64;
        assert_eq!(
            size, 19,
            "2 members added, request, guardian's decision, approve, write, 5 reads, request, decision, deny, decision, prohibition, decision, revoke, refused read"
        );
        let mut c = conn(&fx.url).await;

        // Change one entry's meaning, keeping it canonical JSON.
        let original = entry(&mut c, family, 7).await;
        let text = String::from_utf8(original.clone()).unwrap();
        let changed = if text.contains("access_allowed") { text.replace("access_allowed", "access_denied") } else { text.replacen("\"time\":\"2", "\"time\":\"1", 1) };
        assert_ne!(changed, text);
        set_entry(&mut c, family, 7, changed.into_bytes()).await;
        broken_at(vault, family, 7, "changed entry").await;
        // One byte that breaks the canonical form.
        let mut spaced = original.clone();
        spaced.insert(1, b' ');
        set_entry(&mut c, family, 7, spaced).await;
        broken_at(vault, family, 7, "non-canonical entry").await;
        set_entry(&mut c, family, 7, original.clone()).await;
        vault.verify_ledger(family).await.unwrap();

        // Delete an entry, then put it back.
        let e4 = entry(&mut c, family, 4).await;
        sqlx::query("DELETE FROM ledger_entries WHERE family_id = $1 AND idx = 4").bind(family.to_string()).execute(&mut c).await.unwrap();
        broken_at(vault, family, 4, "deleted entry").await;
        sqlx::query("INSERT INTO ledger_entries (family_id, idx, entry, created_at) VALUES ($1, 4, $2, 0)")
            .bind(family.to_string())
            .bind(e4)
            .execute(&mut c)
            .await
            .unwrap();
        vault.verify_ledger(family).await.unwrap();

        // Reorder two entries.
        let e2 = entry(&mut c, family, 2).await;
        let e9 = entry(&mut c, family, 9).await;
        set_entry(&mut c, family, 2, e9.clone()).await;
        set_entry(&mut c, family, 9, e2.clone()).await;
        broken_at(vault, family, 2, "reordered entries").await;
        set_entry(&mut c, family, 2, e2).await;
        set_entry(&mut c, family, 9, e9).await;

        // Insert an entry beyond the recorded size.
        sqlx::query("INSERT INTO ledger_entries (family_id, idx, entry, created_at) VALUES ($1, $2, $3, 0)")
            .bind(family.to_string())
            .bind(size)
            .bind(original.clone())
            .execute(&mut c)
            .await
            .unwrap();
        broken_at(vault, family, size as u64, "inserted entry").await;
        sqlx::query("DELETE FROM ledger_entries WHERE family_id = $1 AND idx = $2").bind(family.to_string()).bind(size).execute(&mut c).await.unwrap();

        // Change a stored interior hash.
        let node: Vec<u8> = sqlx::query("SELECT hash FROM ledger_nodes WHERE family_id = $1 AND level = 2 AND idx = 1")
            .bind(family.to_string())
            .fetch_one(&mut c)
            .await
            .unwrap()
            .get(0);
        let mut flipped = node.clone();
        flipped[0] ^= 1;
        sqlx::query("UPDATE ledger_nodes SET hash = $1 WHERE family_id = $2 AND level = 2 AND idx = 1").bind(flipped).bind(family.to_string()).execute(&mut c).await.unwrap();
        broken_at(vault, family, 4, "changed interior hash").await;
        sqlx::query("UPDATE ledger_nodes SET hash = $1 WHERE family_id = $2 AND level = 2 AND idx = 1").bind(node).bind(family.to_string()).execute(&mut c).await.unwrap();

        // A grant whose state in the database differs from the log.
        let state_row = sqlx::query("SELECT id, grant_json FROM grants WHERE family_id = $1 AND state = 'revoked'").bind(family.to_string()).fetch_one(&mut c).await.unwrap();
        let (gid, json): (String, String) = (state_row.get(0), state_row.get(1));
        sqlx::query("UPDATE grants SET state = 'active', grant_json = $1 WHERE id = $2")
            .bind(json.replace("\"revoked\"", "\"active\""))
            .bind(&gid)
            .execute(&mut c)
            .await
            .unwrap();
        let err = vault.verify_ledger(family).await.unwrap_err();
        assert!(err.to_string().contains(&gid), "{err}");
        sqlx::query("UPDATE grants SET state = 'revoked', grant_json = $1 WHERE id = $2").bind(&json).bind(&gid).execute(&mut c).await.unwrap();
        vault.verify_ledger(family).await.unwrap();

        // A grant whose scope was widened in the database (more data, more actions): its policy would give more
        // than was consented to, so the log must disagree.
        for (what, from, to) in [
            ("a doctype added", "\"doctypes\":[\"edu.grades\"]", "\"doctypes\":[\"edu.grades\",\"health.pai\"]"),
            ("an action added", "\"actions\":[\"read\",\"list\"]", "\"actions\":[\"read\",\"list\",\"write\"]"),
        ] {
            assert!(json.contains(from), "{what}: the stored row changed shape: {json}");
            sqlx::query("UPDATE grants SET grant_json = $1 WHERE id = $2").bind(json.replace(from, to)).bind(&gid).execute(&mut c).await.unwrap();
            match vault.verify_ledger(family).await {
                Err(VerifyError::Broken { reason, .. }) => assert!(reason.contains(&gid) && reason.contains("request"), "{what}: {reason}"),
                other => panic!("{what}: a widened grant must be caught, got {other:?}"),
            }
            sqlx::query("UPDATE grants SET grant_json = $1 WHERE id = $2").bind(&json).bind(&gid).execute(&mut c).await.unwrap();
        }
        vault.verify_ledger(family).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_stay_consistent_and_catch_a_rewritten_history() {
    let fx = fixture(false).await;
    let (vault, family) = (&fx.vault, fx.family);
    let verifier = tlog::LedgerVerifier::parse(&vault.ledger_verifier_key()).unwrap();
    // One logged decision to read the register serves every checkpoint below.
    let register = vault.as_operator(family, Action::Read, Resource::Register).await.unwrap();
    let old = verifier.verify_note(&vault.checkpoint(&register).await.unwrap()).unwrap();
    // More entries, a newer checkpoint, and a consistency proof between the two.
    let resource = Resource::Family;
    for _ in 0..5 {
        vault.authorize(family, Principal::Operator, Action::Read, resource).await.unwrap();
    }
    let new = verifier.verify_note(&vault.checkpoint(&register).await.unwrap()).unwrap();
    assert_eq!(new.size(), old.size() + 5);
    let proof = vault.consistency_proof(&register, old.size(), new.size()).await.unwrap();
    tlog::verify_consistency(old.size(), new.size(), old.root(), new.root(), &proof).unwrap();
    // A forked history (another root at the old size) is not consistent with the new checkpoint.
    let mut forked = *old.root();
    forked[5] ^= 0x40;
    assert!(tlog::verify_consistency(old.size(), new.size(), &forked, new.root(), &proof).is_err());

    // Every entry's proof checks offline.
    for index in [0, old.size() - 1, new.size() - 1] {
        let text = vault.inclusion_proof(&vault.as_operator(family, cartable_consent::Action::Read, cartable_consent::Resource::Register).await.unwrap(), index).await.unwrap();
        let proof = tlog::TlogProof::parse(&text).unwrap();
        assert_eq!(proof.index, index);
        proof.verify_entry(&verifier).unwrap();
    }

    // Rewrite history consistently: change entry 3 and recompute every stored hash. Without checkpoints this
    // would be invisible; the checkpoints signed earlier catch it.
    let mut c = conn(&fx.url).await;
    let original = entry(&mut c, family, 3).await;
    let text = String::from_utf8(original).unwrap();
    let forged = text.replacen("\"time\":\"2", "\"time\":\"1", 1);
    assert_ne!(forged, text);
    set_entry(&mut c, family, 3, forged.into_bytes()).await;
    sqlx::query("DELETE FROM ledger_nodes WHERE family_id = $1").bind(family.to_string()).execute(&mut c).await.unwrap();
    let mut nodes = std::collections::HashMap::<NodeKey, tlog::Hash>::new();
    for i in 0..new.size() {
        let leaf = tlog::leaf_hash(&entry(&mut c, family, i as i64).await);
        let siblings: Vec<_> = tlog::append_plan(i).into_iter().map(|k| nodes[&k]).collect();
        for (key, hash) in tlog::append(i, leaf, &siblings).unwrap() {
            nodes.insert(key, hash);
            sqlx::query("INSERT INTO ledger_nodes (family_id, level, idx, hash) VALUES ($1, $2, $3, $4)")
                .bind(family.to_string())
                .bind(key.level as i64)
                .bind(key.index as i64)
                .bind(hash.to_vec())
                .execute(&mut c)
                .await
                .unwrap();
        }
    }
    match vault.verify_ledger(family).await {
        Err(VerifyError::Broken { index, reason, .. }) => {
            assert_eq!(index, old.size() - 1, "named at the first checkpoint it contradicts");
            assert!(reason.contains("checkpoint"), "{reason}");
        }
        other => panic!("a rewritten history must be caught by the checkpoints: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_appending_at_once_keep_one_linear_log() {
    for postgres in backends() {
        let fx = fixture(postgres).await;
        let family = fx.family;
        let before = fx.vault.ledger_size(family).await.unwrap();
        // A second vault on the same database: another server process as far as the database can tell.
        let mut config = VaultConfig::embedded(fx._dir.path().join("data"));
        if postgres {
            config.database_url = Some(fx.url.clone());
        }
        let second = Vault::open(config).await.unwrap();
        let mut tasks = Vec::new();
        for (n, vault) in [fx.vault.clone(), second.clone()].into_iter().cycle().take(8).enumerate() {
            tasks.push(tokio::spawn(async move {
                for _ in 0..25 {
                    let decision = vault.authorize(family, Principal::Operator, Action::List, Resource::Family).await.unwrap();
                    assert!(decision.is_allowed(), "task {n}");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let report = second.verify_ledger(family).await.unwrap();
        assert_eq!(report.size, before + 200, "every decision is one entry, none lost, none doubled");
        assert_eq!(fx.vault.verify_ledger(family).await.unwrap().root, report.root, "both servers see one log");
    }
}
