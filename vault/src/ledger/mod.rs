//! The consent ledger's storage: each family's append-only Merkle log in the database.
//!
//! - `store.rs`: the one append (entries, their filter columns, the tree's nodes), inside the caller's transaction.
//! - `queue.rs`: the group commit, a queue of access decisions appended in batches through `store.rs`.
//! - `read.rs`: what a permit shows of the register (entries, narrowed to the principal), checkpoints, proofs.
//! - `verify.rs`: the replay of a whole log against its tree, its checkpoints and the grants in the database.
//!
//! The layers only look down: `store` knows no `Vault`; `queue` knows `store`; `read` and `verify` are the
//! vault's methods over both.

mod backfill;
mod read;
mod queue;
mod store;
mod verify;

use cartable_consent::ledger::{EventType, Receipt};
use cartable_consent::{MemberId, ServiceId};
use time::OffsetDateTime;

pub(crate) use queue::Appender;
pub(crate) use read::RegisterView;
pub(crate) use store::{Appended, append, append_verbatim};
pub use verify::{VerifyError, VerifyReport};

/// One entry as a reviewer sees it.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    pub index: u64,
    pub receipt: Receipt,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    /// Only entries about this child (the receipt's data subject).
    pub subject: Option<MemberId>,
    pub since: Option<OffsetDateTime>,
    /// Before this instant (excluded).
    pub until: Option<OffsetDateTime>,
    pub event: Option<EventType>,
    pub service: Option<ServiceId>,
    pub after_index: Option<u64>,
    pub limit: Option<u32>,
}
