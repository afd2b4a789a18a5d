//! Grant changes made by other servers, heard as they commit: on PostgreSQL every change of a grant's state is a
//! `NOTIFY` on [`GRANT_CHANNEL`] (in the change's transaction), and each vault listens on its own connection and
//! passes the grant's id to whoever subscribed ([`Vault::grant_changes`]). A notice is only a hint to look again:
//! the grant's state is always read from the database, and a notice missed while the listener reconnects is made
//! up for by the long poll's own periodic look.

use std::sync::{Arc, Weak};
use std::time::Duration;

use cartable_consent::GrantId;
use tokio::sync::broadcast;

use crate::vault::{Inner, Vault};

/// The PostgreSQL notification channel of grant changes.
pub(crate) const GRANT_CHANNEL: &str = "cartable_grants";

/// How long the listener waits before connecting again after losing its connection.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

impl Vault {
    /// The grants whose state changed, as the changes commit: on PostgreSQL, every server's; on SQLite, none are
    /// heard (a single process announces its own changes to itself, as the API does). Lagging receivers are told so
    /// and should look again at whatever they wait for.
    pub fn grant_changes(&self) -> broadcast::Receiver<GrantId> {
        self.inner.grant_notices.subscribe()
    }
}

/// Listens on PostgreSQL for grant changes until the vault is dropped (the task holds only a weak reference).
pub(crate) fn listen_for_grant_changes(inner: &Arc<Inner>, database_url: String) {
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let notices = inner.grant_notices.clone();
    tokio::spawn(async move {
        loop {
            if weak.strong_count() == 0 {
                return;
            }
            let mut listener = match sqlx::postgres::PgListener::connect(&database_url).await {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %crate::Error::from(e), "cannot listen for other servers' grant changes; trying again");
                    tokio::time::sleep(RECONNECT_AFTER).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen(GRANT_CHANNEL).await {
                tracing::warn!(error = %crate::Error::from(e), "cannot listen for other servers' grant changes; trying again");
                tokio::time::sleep(RECONNECT_AFTER).await;
                continue;
            }
            loop {
                // Wake now and then to notice that the vault is gone.
                let next = tokio::time::timeout(Duration::from_secs(5), listener.try_recv()).await;
                if weak.strong_count() == 0 {
                    return;
                }
                match next {
                    Err(_) => continue,
                    Ok(Ok(Some(notification))) => {
                        if let Ok(grant) = notification.payload().parse::<GrantId>() {
                            let _ = notices.send(grant);
                        }
                    }
                    // The connection was lost (notices in between are lost too): connect again.
                    Ok(Ok(None)) | Ok(Err(_)) => break,
                }
            }
        }
    });
}
