//! What online access keeps beside the vault's data, and the decisions it takes: member sessions (`sessions.rs`),
//! the counters that slow down password guessing (`sign_ins.rs`), services' continuation handles and access tokens
//! held to their grant (`tokens.rs`), outsiders' refusals (`outsiders.rs`), and reading a record once, sealed,
//! before its decision (`reads.rs`).
//!
//! Secrets never reach these modules in clear: the HTTP API hands them SHA-256 hashes of high-entropy random
//! values, so the tables are useless to whoever copies them. Reached through [`Vault::api`].

mod outsiders;
mod reads;
mod sessions;
mod sign_ins;
mod tokens;

pub use reads::{CollectionInfo, SealedRecord};
pub use sessions::{DpoSessionRecord, SessionRecord};
pub use sign_ins::{Attempt, LoginLimits};
pub use tokens::{ContinuationRecord, GrantDecision, TokenRecord};

use std::sync::atomic::{AtomicI64, Ordering};

use crate::vault::Vault;

/// The storage and decisions of online access; borrow it with [`Vault::api`].
#[derive(Debug, Clone, Copy)]
pub struct ApiStore<'v> {
    vault: &'v Vault,
}

impl Vault {
    /// The HTTP API's sessions, tokens and counters.
    pub fn api(&self) -> ApiStore<'_> {
        ApiStore { vault: self }
    }
}

impl ApiStore<'_> {
    fn pool(&self) -> &sqlx::AnyPool {
        self.vault.pool()
    }
}

/// Whether a periodic chore last done in period `last` is due in period `now` (and marks it done): pruning old
/// counters once a period per process, not on every request.
fn due(last: &AtomicI64, now: i64) -> bool {
    last.swap(now, Ordering::Relaxed) != now
}
