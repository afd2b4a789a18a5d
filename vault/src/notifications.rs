//! Notifications: a request awaits someone, a grant was used for the first time, is about to end, or ended.
//!
//! A notification is a row of ids and times, made in the transaction of the change it tells of (one per member,
//! kind and grant: a change made twice notifies once). Its words are made when it is shown or sent, in the
//! member's language, and never hold the child's data. Its e-mail waits in the same row (`email_state`): the
//! server's mailer claims due rows, sends them and retries with backoff; what a member wants by e-mail and their
//! address (sealed to the family's key) are their `notification_settings`.

use std::str::FromStr;

use cartable_consent::lifecycle::{AgeStage, age_stage, missing_approvals};
use cartable_consent::{FamilyId, Grant, GrantId, Grantee, Member, MemberId, Principal, Resource, Role, ServiceId};
use sqlx::Row;
use time::OffsetDateTime;

use crate::db::{from_millis, to_millis};
use crate::envelope::{Field, Place};
use crate::error::{Error, Result};
use crate::vault::{Vault, parse_id};

/// What a notification tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    /// A service's request awaits this member's decision.
    Request,
    /// A service used a grant for the first time.
    FirstUse,
    /// A grant ends soon.
    Expiring,
    /// A grant ended (revoked or expired).
    Ended,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 4] = [NotificationKind::Request, NotificationKind::FirstUse, NotificationKind::Expiring, NotificationKind::Ended];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Request => "request",
            NotificationKind::FirstUse => "first_use",
            NotificationKind::Expiring => "expiring",
            NotificationKind::Ended => "ended",
        }
    }
}

impl FromStr for NotificationKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        NotificationKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| Error::InvalidInput(format!("unknown notification kind `{s}`")))
    }
}

/// A notification as a member's list shows it.
#[derive(Debug, Clone)]
pub struct Notification {
    pub id: String,
    pub kind: NotificationKind,
    pub grant: GrantId,
    pub service: ServiceId,
    pub created_at: OffsetDateTime,
    pub read: bool,
}

/// What a member chose: the address they get e-mails at (none: the web UI only), their language, and the kinds
/// they get by e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationSettings {
    pub email: Option<String>,
    pub language: String,
    pub email_kinds: Vec<NotificationKind>,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings { email: None, language: "fr".to_owned(), email_kinds: NotificationKind::ALL.to_vec() }
    }
}

/// An e-mail the mailer claimed: where to, in which language, about what.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    pub id: String,
    pub family: FamilyId,
    pub member: MemberId,
    pub kind: NotificationKind,
    pub grant: GrantId,
    pub service: ServiceId,
    pub attempts: u32,
    /// `None`: the member has no address or does not want this kind by e-mail (the row is skipped).
    pub to: Option<String>,
    pub language: String,
    pub created_at: OffsetDateTime,
}

/// The outbox as an operator sees it.
#[derive(Debug, Clone, Default)]
pub struct OutboxStatus {
    pub pending: u64,
    /// Of the pending, those that failed at least once.
    pub retrying: u64,
    pub sent: u64,
    pub failed: u64,
    /// The latest failures: when, the attempt, the kind of error (no address, no message).
    pub last_errors: Vec<(OffsetDateTime, u32, String)>,
}

/// An e-mail older than this when the mailer first sees it is not sent (the server had no mailer for a while).
const STALE_AFTER: time::Duration = time::Duration::days(2);
/// How long a claimed e-mail is the claimer's before another process may take it again.
const CLAIM: time::Duration = time::Duration::minutes(2);

fn valid_email(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && address.len() <= 254
        && !address.chars().any(|c| c.is_whitespace() || c.is_control() || "<>,;\"()[]\\".contains(c))
        && !domain.contains('@')
}

/// The member a permit was decided for, about their family.
fn own_member(permit: &crate::Permit) -> Result<MemberId> {
    let Principal::Member(member) = permit.principal() else { return Err(Error::PermitMismatch("member")) };
    if !matches!(permit.resource(), Resource::Family) {
        return Err(Error::PermitMismatch("family"));
    }
    Ok(member)
}

/// Adds a notification of `kind` about `grant` for each of `recipients`, in the caller's transaction; one a member
/// already has for this kind and grant is left as it is.
pub(crate) async fn add(tx: &mut sqlx::Transaction<'_, sqlx::Any>, grant: &Grant, kind: NotificationKind, recipients: &[MemberId], now: OffsetDateTime) -> Result<usize> {
    let Grantee::Service(service) = grant.grantee else { return Ok(0) };
    let mut added = 0;
    for member in recipients {
        let done = sqlx::query(
            "INSERT INTO notifications (id, family_id, member_id, kind, grant_id, service_id, created_at, email_state, email_attempts, email_next_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $7) ON CONFLICT (member_id, kind, grant_id) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(grant.family.to_string())
        .bind(member.to_string())
        .bind(kind.as_str())
        .bind(grant.id.to_string())
        .bind(service.to_string())
        .bind(to_millis(now))
        .execute(&mut **tx)
        .await?;
        added += done.rows_affected() as usize;
    }
    Ok(added)
}

impl Vault {
    /// The members a grant's news is for, among `members` (read before any write transaction opens: a read of the
    /// pool while a transaction holds SQLite's write lock could wait on a connection that waits on the lock): the
    /// guardians, and the child from the age of digital consent.
    pub(crate) fn concerned(&self, members: &[Member], child: MemberId, now: OffsetDateTime) -> Vec<MemberId> {
        let rules = self.age_rules();
        members
            .iter()
            .filter(|m| match m.role {
                Role::Guardian => true,
                Role::Child => m.id == child && matches!(age_stage(m, rules, now), Some(AgeStage::ConsentAge | AgeStage::Adult)),
            })
            .map(|m| m.id)
            .collect()
    }

    /// The members among `members` whose approval a requested grant still awaits.
    pub(crate) fn awaited(&self, members: &[Member], grant: &Grant, now: OffsetDateTime) -> Vec<MemberId> {
        let Some(child) = members.iter().find(|m| m.id == grant.child) else { return Vec::new() };
        let missing = missing_approvals(grant, child, self.age_rules(), now);
        members
            .iter()
            .filter(|m| match m.role {
                Role::Guardian => missing.contains(&Role::Guardian),
                Role::Child => m.id == grant.child && missing.contains(&Role::Child),
            })
            .map(|m| m.id)
            .collect()
    }

    /// Wakes the mailer: a notification was added.
    pub(crate) fn notified(&self) {
        self.inner.notices.notify_one();
    }

    /// Waits until a notification is added in this process (or `timeout`), for the mailer.
    pub async fn wait_for_notifications(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.inner.notices.notified()).await;
    }

    /// Notes that a service used a grant; the first use of each grant notifies the concerned members, once,
    /// whichever process sees it first. Each process asks the database once per grant: the grant is claimed in
    /// this process before (a burst of first reads makes one write, not one each), and released if noting fails.
    pub async fn note_grant_used(&self, family: FamilyId, grant: GrantId) -> Result<()> {
        if !self.inner.used_grants.lock().unwrap_or_else(|e| e.into_inner()).insert(grant) {
            return Ok(());
        }
        let noted = self.note_first_use(family, grant).await;
        if noted.is_err() {
            self.inner.used_grants.lock().unwrap_or_else(|e| e.into_inner()).remove(&grant);
        }
        noted
    }

    async fn note_first_use(&self, family: FamilyId, grant: GrantId) -> Result<()> {
        let now = OffsetDateTime::now_utc();
        // What is read comes first, before the write transaction (see `concerned`).
        let stored = self.grant_row(family, grant).await?;
        let recipients = self.concerned(&self.members(family).await?, stored.child, now);
        let mut tx = self.write_tx().await?;
        let first = sqlx::query("UPDATE grants SET first_used_at = $1 WHERE id = $2 AND family_id = $3 AND first_used_at IS NULL")
            .bind(to_millis(now))
            .bind(grant.to_string())
            .bind(family.to_string())
            .execute(&mut *tx)
            .await?;
        if first.rows_affected() == 1 {
            add(&mut tx, &stored, NotificationKind::FirstUse, &recipients, now).await?;
        }
        tx.commit().await?;
        if first.rows_affected() == 1 {
            self.notified();
        }
        Ok(())
    }

    /// Whether this process knows the grant was used already (nothing to note).
    pub(crate) fn known_used(&self, grant: GrantId) -> bool {
        self.inner.used_grants.lock().unwrap_or_else(|e| e.into_inner()).contains(&grant)
    }

    async fn grant_row(&self, family: FamilyId, grant: GrantId) -> Result<Grant> {
        let row = sqlx::query("SELECT grant_json FROM grants WHERE id = $1 AND family_id = $2")
            .bind(grant.to_string())
            .bind(family.to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or(Error::GrantNotFound(grant))?;
        crate::rows::parse_grant(&row.get::<String, _>(0))
    }

    /// The families with a grant in force that ends before `horizon`: those the periodic sweep looks at (expiry
    /// notices, then expiries).
    pub async fn families_with_grants_ending(&self, horizon: OffsetDateTime) -> Result<Vec<FamilyId>> {
        let rows = sqlx::query("SELECT DISTINCT family_id FROM grants WHERE state = 'active' AND expires_at <= $1")
            .bind(to_millis(horizon))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| parse_id(&r.get::<String, _>(0))).collect()
    }

    /// Notifies the concerned members of each grant of the family in force that ends within `notice` (once per
    /// grant and member). Returns how many notifications were added.
    pub async fn notify_grants_ending(&self, family: FamilyId, now: OffsetDateTime, notice: time::Duration) -> Result<usize> {
        let rows = sqlx::query("SELECT grant_json FROM grants WHERE family_id = $1 AND state = 'active' AND expires_at > $2 AND expires_at <= $3")
            .bind(family.to_string())
            .bind(to_millis(now))
            .bind(to_millis(now + notice))
            .fetch_all(self.pool())
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let members = self.members(family).await?;
        let mut ending = Vec::with_capacity(rows.len());
        for row in &rows {
            let grant = crate::rows::parse_grant(&row.get::<String, _>(0))?;
            let recipients = self.concerned(&members, grant.child, now);
            ending.push((grant, recipients));
        }
        let mut tx = self.write_tx().await?;
        let mut added = 0;
        for (grant, recipients) in &ending {
            added += add(&mut tx, grant, NotificationKind::Expiring, recipients, now).await?;
        }
        tx.commit().await?;
        if added > 0 {
            self.notified();
        }
        Ok(added)
    }

    /// The permit's own member's notifications, newest first (at most `limit`).
    pub async fn notifications(&self, permit: &crate::Permit, limit: u32) -> Result<Vec<Notification>> {
        let member = own_member(permit)?;
        let rows = sqlx::query(
            "SELECT id, kind, grant_id, service_id, created_at, read_at FROM notifications WHERE member_id = $1 AND family_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3",
        )
        .bind(member.to_string())
        .bind(permit.family().to_string())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Notification {
                    id: r.get(0),
                    kind: r.get::<String, _>(1).parse()?,
                    grant: parse_id(&r.get::<String, _>(2))?,
                    service: parse_id(&r.get::<String, _>(3))?,
                    created_at: from_millis(r.get(4)),
                    read: r.get::<Option<i64>, _>(5).is_some(),
                })
            })
            .collect()
    }

    /// How many of a member's notifications are unread (for the menu; ids only, read before any decision).
    pub async fn unread_notifications(&self, family: FamilyId, member: MemberId) -> Result<u64> {
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM notifications WHERE member_id = $1 AND family_id = $2 AND read_at IS NULL")
            .bind(member.to_string())
            .bind(family.to_string())
            .fetch_one(self.pool())
            .await?
            .get(0);
        Ok(count as u64)
    }

    /// Marks all of the permit's own member's notifications read.
    pub async fn mark_notifications_read(&self, permit: &crate::Permit) -> Result<()> {
        let member = own_member(permit)?;
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE notifications SET read_at = $1 WHERE member_id = $2 AND family_id = $3 AND read_at IS NULL")
            .bind(to_millis(OffsetDateTime::now_utc()))
            .bind(member.to_string())
            .bind(permit.family().to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The permit's own member's choices (the defaults until they make some).
    pub async fn notification_settings(&self, permit: &crate::Permit) -> Result<NotificationSettings> {
        let member = own_member(permit)?;
        self.settings_of(permit.family(), member).await
    }

    async fn settings_of(&self, family: FamilyId, member: MemberId) -> Result<NotificationSettings> {
        let row = sqlx::query("SELECT email_enc, language, email_kinds FROM notification_settings WHERE member_id = $1 AND family_id = $2")
            .bind(member.to_string())
            .bind(family.to_string())
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(NotificationSettings::default()) };
        let email = match row.get::<Option<Vec<u8>>, _>(0) {
            None => None,
            Some(sealed) => {
                let key = self.family_key(family).await?;
                let id = member.to_string();
                let plain = key.open(&Place { family, field: Field::MemberEmail { member: &id } }, &sealed)?;
                Some(String::from_utf8(plain.to_vec()).map_err(|_| Error::Decrypt)?)
            }
        };
        let kinds: String = row.get(2);
        let email_kinds = kinds.split(',').filter(|k| !k.is_empty()).map(str::parse).collect::<Result<Vec<_>>>()?;
        Ok(NotificationSettings { email, language: row.get(1), email_kinds })
    }

    /// Saves the permit's own member's choices; an address that is not one is refused and changes nothing.
    pub async fn set_notification_settings(&self, permit: &crate::Permit, settings: &NotificationSettings) -> Result<()> {
        let member = own_member(permit)?;
        let family = permit.family();
        let email = settings.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
        if let Some(address) = email
            && !valid_email(address)
        {
            return Err(Error::InvalidInput("this is not an e-mail address".to_owned()));
        }
        if !["fr", "en"].contains(&settings.language.as_str()) {
            return Err(Error::InvalidInput("the language is fr or en".to_owned()));
        }
        let id = member.to_string();
        let sealed = match email {
            Some(address) => Some(self.family_key(family).await?.seal(&Place { family, field: Field::MemberEmail { member: &id } }, address.as_bytes())?),
            None => None,
        };
        let kinds: Vec<&str> = NotificationKind::ALL.into_iter().filter(|k| settings.email_kinds.contains(k)).map(NotificationKind::as_str).collect();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO notification_settings (member_id, family_id, email_enc, language, email_kinds) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (member_id) DO UPDATE SET email_enc = excluded.email_enc, language = excluded.language, email_kinds = excluded.email_kinds",
        )
        .bind(&id)
        .bind(family.to_string())
        .bind(sealed)
        .bind(&settings.language)
        .bind(kinds.join(","))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Remembers the language a signed-in member chose (their e-mails come in it).
    pub async fn set_member_language(&self, family: FamilyId, member: MemberId, language: &str) -> Result<()> {
        if !["fr", "en"].contains(&language) {
            return Err(Error::InvalidInput("the language is fr or en".to_owned()));
        }
        let all = NotificationKind::ALL.map(NotificationKind::as_str).join(",");
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO notification_settings (member_id, family_id, email_enc, language, email_kinds) VALUES ($1, $2, NULL, $3, $4) \
             ON CONFLICT (member_id) DO UPDATE SET language = excluded.language",
        )
        .bind(member.to_string())
        .bind(family.to_string())
        .bind(language)
        .bind(all)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // --- the outbox (the mailer's) ---------------------------------------------------------------------------

    /// Claims up to `limit` e-mails due at `now` for this process (each for a couple of minutes, by compare-and-set,
    /// so two servers never send one twice at once), with their address and language. One too old when first seen
    /// (made while no mailer ran) is skipped instead.
    pub async fn claim_due_emails(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<OutgoingEmail>> {
        // A read first: an idle mailer writes nothing.
        let rows = sqlx::query(
            "SELECT id, family_id, member_id, kind, grant_id, service_id, email_attempts, email_next_at, created_at FROM notifications \
             WHERE email_state = 'pending' AND email_next_at <= $1 ORDER BY email_next_at LIMIT $2",
        )
        .bind(to_millis(now))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.get(0);
            let seen: i64 = r.get(7);
            let stale = r.get::<i64, _>(6) == 0 && from_millis(r.get(8)) < now - STALE_AFTER;
            let mut tx = self.write_tx().await?;
            let taken = sqlx::query("UPDATE notifications SET email_next_at = $1, email_state = $2 WHERE id = $3 AND email_state = 'pending' AND email_next_at = $4")
                .bind(to_millis(now + CLAIM))
                .bind(if stale { "skipped" } else { "pending" })
                .bind(&id)
                .bind(seen)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            if taken.rows_affected() != 1 || stale {
                continue;
            }
            let family: FamilyId = parse_id(&r.get::<String, _>(1))?;
            let member: MemberId = parse_id(&r.get::<String, _>(2))?;
            let kind: NotificationKind = r.get::<String, _>(3).parse()?;
            let settings = self.settings_of(family, member).await?;
            let to = settings.email.filter(|_| settings.email_kinds.contains(&kind));
            claimed.push(OutgoingEmail {
                id,
                family,
                member,
                kind,
                grant: parse_id(&r.get::<String, _>(4))?,
                service: parse_id(&r.get::<String, _>(5))?,
                attempts: r.get::<i64, _>(6) as u32,
                to,
                language: settings.language,
                created_at: from_millis(r.get(8)),
            });
        }
        Ok(claimed)
    }

    /// Ends an e-mail's row: `sent` or `skipped` (nobody to send it to).
    pub async fn email_done(&self, id: &str, sent: bool) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE notifications SET email_state = $1, email_error = NULL WHERE id = $2")
            .bind(if sent { "sent" } else { "skipped" })
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt: retried from `retry_at`, or `None` to give up. `error` names the kind of failure,
    /// never an address or the message.
    pub async fn email_failed(&self, id: &str, attempts: u32, retry_at: Option<OffsetDateTime>, error: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE notifications SET email_state = $1, email_attempts = $2, email_next_at = $3, email_error = $4 WHERE id = $5")
            .bind(if retry_at.is_some() { "pending" } else { "failed" })
            .bind(i64::from(attempts))
            .bind(to_millis(retry_at.unwrap_or_else(OffsetDateTime::now_utc)))
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The outbox's counts and its latest failures, for the operator.
    pub async fn outbox_status(&self) -> Result<OutboxStatus> {
        let mut status = OutboxStatus::default();
        let rows = sqlx::query("SELECT email_state, CASE WHEN email_attempts > 0 THEN 1 ELSE 0 END AS retried, COUNT(*) FROM notifications GROUP BY email_state, retried").fetch_all(self.pool()).await?;
        for r in rows {
            let count = r.get::<i64, _>(2) as u64;
            match (r.get::<String, _>(0).as_str(), r.get::<i64, _>(1) == 1) {
                ("pending", retried) => {
                    status.pending += count;
                    if retried {
                        status.retrying += count;
                    }
                }
                ("sent", _) => status.sent += count,
                ("failed", _) => status.failed += count,
                _ => {}
            }
        }
        let failures = sqlx::query("SELECT email_next_at, email_attempts, email_error FROM notifications WHERE email_error IS NOT NULL ORDER BY email_next_at DESC LIMIT 10")
            .fetch_all(self.pool())
            .await?;
        status.last_errors = failures.iter().map(|r| (from_millis(r.get(0)), r.get::<i64, _>(1) as u32, r.get(2))).collect();
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::valid_email;

    #[test]
    fn addresses_are_checked_for_their_shape() {
        for good in ["parent@example.org", "a.b+c@mail.example.fr"] {
            assert!(valid_email(good), "{good}");
        }
        for bad in ["", "parent", "@example.org", "parent@", "parent@example", "a b@example.org", "a@b@example.org", "<a@example.org>", "a@example.org\r\nBcc: x@y.z"] {
            assert!(!valid_email(bad), "{bad:?}");
        }
    }
}
