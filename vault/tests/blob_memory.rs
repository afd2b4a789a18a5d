//! Memory does not grow with a file's size: storing and reading back a 96 MiB file takes under 20 MiB (the upload's
//! parts in flight), about what a 16 MiB file takes, on the data folder and, when `CARTABLE_TEST_S3_ENDPOINT` is set,
//! on the S3 store. Measured by counting every
//! allocation of this test binary (its only test, so nothing else runs beside it).

mod support;

use cartable_consent::{Action, Doctype, Resource, Role};
use cartable_vault::Vault;
use support::counting_alloc::{self, Counting};
use support::{Leg, fixture_on, operator};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: u64 = 1024 * 1024;

/// The most memory above what was live before, while storing a file of `size` bytes and while reading it back.
async fn peaks(vault: &Vault, size: u64) -> (usize, usize) {
    let family = vault.create_family("Mémoire").await.unwrap();
    let manage = vault.as_operator(family, Action::Manage, Resource::Family).await.unwrap();
    let child = vault.add_member(&manage, Role::Child, "Léa", Some(time::macros::date!(2014 - 05 - 02))).await.unwrap();
    let write = operator(vault, family, Action::Write, Resource::Collection { child, doctype: Doctype::Documents }).await;
    let base = counting_alloc::start();
    let id = vault.put_file(&write, child, Doctype::Documents, "operator".into(), "gros.bin".into(), Box::new(support::Generated { left: size })).await.unwrap();
    let stored = counting_alloc::peak_above(base);
    // The file's indexing (its name: a file of this kind is not read) done before the next measure: a commit of the
    // search index takes its own bounded memory (tantivy's writer), which is not the file's.
    let search = operator(vault, family, Action::Search, Resource::Family).await;
    vault.search(&[&search], &cartable_vault::SearchQuery { text: "gros".into(), ..Default::default() }).await.unwrap();
    let read = operator(vault, family, Action::Read, vault.record_resource(family, id).await.unwrap()).await;
    let base = counting_alloc::start();
    let (info, mut reader) = vault.open_file(&read).await.unwrap();
    let back = tokio::task::spawn_blocking(move || std::io::copy(&mut reader, &mut std::io::sink()).unwrap()).await.unwrap();
    let read_peak = counting_alloc::peak_above(base);
    assert_eq!((back, info.size), (size, size));
    (stored, read_peak)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_does_not_grow_with_the_size_of_a_file() {
    let mut legs = vec![Leg { postgres: false, s3: false }];
    if support::s3_config().is_some() {
        legs.push(Leg { postgres: false, s3: true });
    } else {
        eprintln!("S3 leg skipped: CARTABLE_TEST_S3_ENDPOINT is not set (scripts/test.sh starts an S3 server and sets it)");
    }
    for leg in legs {
        let fx = fixture_on(leg).await;
        let vault = Vault::open(fx.config.clone()).await.unwrap();
        // A first file warms the pools (connections, buffers) so that neither measure pays for them.
        peaks(&vault, 12 * MIB).await;
        let (small_put, small_get) = peaks(&vault, 16 * MIB).await;
        let (large_put, large_get) = peaks(&vault, 96 * MIB).await;
        eprintln!("{leg:?}: 16 MiB file: {} KiB to store, {} KiB to read; 96 MiB file: {} KiB, {} KiB", small_put >> 10, small_get >> 10, large_put >> 10, large_get >> 10);
        // Bounded by the upload's buffer and parts in flight (three of 5 MiB at most) and the readers' buffers,
        // whatever the size: a fifth of the large file.
        for (what, peak) in [("store", small_put), ("read", small_get), ("store", large_put), ("read", large_get)] {
            assert!(peak < 20 * MIB as usize, "{leg:?}: {} KiB to {what} a file", peak >> 10);
        }
        // Six times the size: at most the difference between fewer and more 5 MiB parts in flight at the peak.
        assert!(large_put < small_put + 10 * MIB as usize, "{leg:?}: storing grew from {} KiB to {} KiB", small_put >> 10, large_put >> 10);
        assert!(large_get < small_get + 10 * MIB as usize, "{leg:?}: reading grew from {} KiB to {} KiB", small_get >> 10, large_get >> 10);
    }
}
