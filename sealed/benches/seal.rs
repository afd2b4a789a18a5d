//! Seal + open throughput of sealed delivery, next to plain ChaCha20-Poly1305 on the same bytes.
//!
//! `CARGO_TARGET_DIR=/work/target-sealed cargo bench -p cartable-sealed --bench seal -j 1`
//!
//! One vault and one instance; each round seals one message and the instance opens it. The rekey
//! an epoch needs every `MAX_SEALS_PER_EPOCH` messages (self-update, snapshot, the instance
//! processing the commit) is inside the timed loop, as it would be in service.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cartable_sealed::{SealError, ServiceMember, VaultGroup};
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};

const GRANT: &[u8] = b"grant-bench";
const RUN: Duration = Duration::from_secs(2);

fn main() {
    println!(
        "{:>8}  {:>15}  {:>18}  {:>8}  {:>10}",
        "size", "mls seal+open/s", "chacha20poly1305/s", "ratio", "mls MiB/s"
    );
    for size in [1024usize, 64 * 1024] {
        let plaintext: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mls = mls_rounds_per_second(&plaintext);
        let aead = aead_rounds_per_second(&plaintext);
        println!(
            "{:>6} B  {:>15.0}  {:>18.0}  {:>7.2}x  {:>10.1}",
            size,
            mls,
            aead,
            aead / mls,
            mls * size as f64 / (1024.0 * 1024.0)
        );
    }
}

fn mls_rounds_per_second(plaintext: &[u8]) -> f64 {
    let mut vault = VaultGroup::create(GRANT, b"vault:bench").expect("group");
    let mut instance = ServiceMember::new(b"svc:bench").expect("member");
    let added = vault
        .add(&instance.key_packages(1).expect("key package"))
        .expect("add");
    vault.snapshot().expect("snapshot");
    instance
        .join(added.welcome.as_deref().expect("welcome"), vault.signature_key())
        .expect("join");

    let mut round = || {
        let sealed = match vault.seal(plaintext) {
            Ok(sealed) => sealed,
            Err(SealError::EpochExhausted(_)) => {
                let update = vault.self_update().expect("self-update");
                vault.snapshot().expect("snapshot");
                instance.process(&update.commit).expect("process");
                vault.seal(plaintext).expect("seal")
            }
            Err(e) => panic!("seal: {e}"),
        };
        let opened = instance.open(GRANT, &sealed).expect("open");
        assert_eq!(opened.len(), plaintext.len());
        black_box(opened);
    };
    rounds_per_second(&mut round)
}

fn aead_rounds_per_second(plaintext: &[u8]) -> f64 {
    let cipher = ChaCha20Poly1305::new(&ChaCha20Poly1305::generate_key(&mut OsRng));
    let mut round = || {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = cipher.encrypt(&nonce, plaintext).expect("encrypt");
        let opened = cipher.decrypt(&nonce, sealed.as_slice()).expect("decrypt");
        assert_eq!(opened.len(), plaintext.len());
        black_box(opened);
    };
    rounds_per_second(&mut round)
}

/// Warms up, then runs `round` for `RUN` and returns rounds per second.
fn rounds_per_second(round: &mut dyn FnMut()) -> f64 {
    for _ in 0..50 {
        round();
    }
    let start = Instant::now();
    let mut rounds = 0u64;
    while start.elapsed() < RUN {
        for _ in 0..16 {
            round();
        }
        rounds += 16;
    }
    rounds as f64 / start.elapsed().as_secs_f64()
}
