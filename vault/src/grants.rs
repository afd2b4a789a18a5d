//! Services, access requests and grants, and family-wide prohibitions. Every change of state commits in the
//! same transaction as its ledger entry: no grant without its entry, no entry without its grant.

use cartable_consent::ledger::{EventType, ProhibitionChange};
use cartable_consent::{
    Action, Doctype, FamilyId, Forbid, ForbidScope, Grant, GrantId, GrantState, Grantee, LegalBasis, MemberId, Principal, Role,
    ServiceId, lifecycle,
};
use sqlx::Row;
use time::OffsetDateTime;

use crate::db::to_millis;
use crate::error::{Error, Result};
use crate::notifications::NotificationKind;
use crate::rows::{grant_json, parse_grant};
use crate::ledger::{RegisterView, append};
use cartable_consent::ledger::ReceiptDraft;
use crate::vault::{Vault, bump_version, parse_id};

/// The longest a grant may last, in days.
pub const MAX_GRANT_DAYS: u32 = 3 * 366;
const MAX_PURPOSE_CHARS: usize = 500;
/// The requests one service may have waiting in one family: a family is not flooded with requests to read through,
/// nor its ledger with their entries, by a service that asks again and again.
pub const MAX_PENDING_PER_SERVICE: usize = 10;

/// What a service asks a family for.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub service: ServiceId,
    pub family: FamilyId,
    pub child: MemberId,
    pub doctypes: Vec<Doctype>,
    pub actions: Vec<Action>,
    pub purpose: String,
    pub legal_basis: LegalBasis,
    pub duration_days: u32,
}

/// What is known of a grant before deciding on it (no purpose: nothing decrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantOutline {
    pub child: MemberId,
    pub doctypes: Vec<Doctype>,
    pub actions: Vec<Action>,
    pub state: GrantState,
    pub expires_at: Option<OffsetDateTime>,
}

/// The state after an approval, and who must still approve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalResult {
    pub grant: GrantId,
    pub state: GrantState,
    /// Plain words, e.g. `the child`.
    pub missing: Vec<String>,
}

/// The longest description a service may give itself, in characters.
pub const SERVICE_DESCRIPTION_LIMIT: usize = 500;

/// A registered service as families are shown it: its name and, if it gave one, its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProfile {
    pub name: String,
    pub description: Option<String>,
}

impl Vault {
    // --- services -------------------------------------------------------------------------------------------

    /// Registers a service with an optional description (what it is, shown to families beside its name); the caller
    /// hashes its secret (only the hash is stored). An unapproved service can ask families for nothing until the
    /// operator approves it ([`Vault::approve_service`]). A blank description counts as none.
    pub async fn register_service(&self, name: &str, description: Option<&str>, secret_hash: &str, approved: bool) -> Result<ServiceId> {
        let (name, description) = validate_service_text(name, description)?;
        let id = ServiceId::new();
        sqlx::query("INSERT INTO services (id, name, description, secret_hash, created_at, approved) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id.to_string())
            .bind(name)
            .bind(description)
            .bind(secret_hash)
            .bind(to_millis(OffsetDateTime::now_utc()))
            .bind(i64::from(approved))
            .execute(self.pool())
            .await?;
        Ok(id)
    }

    /// Registers a service an imported family's grants name, under its id, if this vault does not know it:
    /// awaiting the operator's approval, with no secret (it cannot sign in until the operator gives it one,
    /// [`Vault::set_service_secret`]). Returns whether it was registered.
    pub(crate) async fn register_imported_service(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, service: &crate::import::ArchivedService) -> Result<bool> {
        let known = sqlx::query("SELECT 1 FROM services WHERE id = $1").bind(service.id.to_string()).fetch_optional(&mut **tx).await?;
        if known.is_some() {
            return Ok(false);
        }
        let (name, description) = validate_service_text(&service.name, service.description.as_deref())?;
        sqlx::query("INSERT INTO services (id, name, description, secret_hash, created_at, approved) VALUES ($1, $2, $3, '', $4, 0)")
            .bind(service.id.to_string())
            .bind(name)
            .bind(description)
            .bind(to_millis(OffsetDateTime::now_utc()))
            .execute(&mut **tx)
            .await?;
        Ok(true)
    }

    /// The operator gives a service a new secret (the caller hashes it): its old one stops working.
    pub async fn set_service_secret(&self, id: ServiceId, secret_hash: &str) -> Result<()> {
        let done = sqlx::query("UPDATE services SET secret_hash = $1 WHERE id = $2").bind(secret_hash).bind(id.to_string()).execute(self.pool()).await?;
        if done.rows_affected() == 0 {
            return Err(Error::ServiceNotFound(id.to_string()));
        }
        Ok(())
    }

    /// The operator lets a service registered under `registration = "operator-approved"` ask families for access.
    pub async fn approve_service(&self, id: ServiceId) -> Result<()> {
        let done = sqlx::query("UPDATE services SET approved = 1 WHERE id = $1").bind(id.to_string()).execute(self.pool()).await?;
        if done.rows_affected() == 0 {
            return Err(Error::ServiceNotFound(id.to_string()));
        }
        Ok(())
    }

    /// The services waiting for the operator's approval, with their names.
    pub async fn services_awaiting_approval(&self) -> Result<Vec<(ServiceId, String)>> {
        let rows = sqlx::query("SELECT id, name FROM services WHERE approved = 0 ORDER BY created_at").fetch_all(self.pool()).await?;
        rows.iter().map(|r| Ok((parse_id(&r.get::<String, _>(0))?, r.get(1)))).collect()
    }

    /// The names of these services, in one query (a grant listing names each grant's service).
    pub async fn service_names(&self, ids: &[ServiceId]) -> Result<std::collections::HashMap<ServiceId, String>> {
        Ok(self.service_profiles(ids).await?.into_iter().map(|(id, profile)| (id, profile.name)).collect())
    }

    /// These services as families are shown them (name and description), in one query per 500.
    pub async fn service_profiles(&self, ids: &[ServiceId]) -> Result<std::collections::HashMap<ServiceId, ServiceProfile>> {
        let mut out = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT id, name, description FROM services WHERE id IN ({})", placeholders.join(", "));
            // Placeholders only: the ids are bound below.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(self.pool()).await? {
                out.insert(parse_id(&row.get::<String, _>(0))?, ServiceProfile { name: row.get(1), description: row.get(2) });
            }
        }
        Ok(out)
    }

    /// A service's name and secret hash, if it is registered.
    pub async fn service(&self, id: ServiceId) -> Result<Option<(String, String)>> {
        Ok(sqlx::query("SELECT name, secret_hash FROM services WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?
            .map(|row| (row.get(0), row.get(1))))
    }

    // --- requests and grants --------------------------------------------------------------------------------

    /// Records a service's request; it waits for the approvals the age rules require.
    pub async fn create_request(&self, request: NewRequest) -> Result<GrantId> {
        let approved: Option<i64> = sqlx::query("SELECT approved FROM services WHERE id = $1")
            .bind(request.service.to_string())
            .fetch_optional(self.pool())
            .await?
            .map(|r| r.get(0));
        match approved {
            None => return Err(Error::ServiceNotFound(request.service.to_string())),
            Some(0) => return Err(Error::ServiceNotApproved(request.service)),
            Some(_) => {}
        }
        self.child(request.family, request.child).await?;
        let mut doctypes = request.doctypes.clone();
        doctypes.sort();
        doctypes.dedup();
        let mut actions = request.actions.clone();
        actions.sort();
        actions.dedup();
        if doctypes.is_empty() {
            return Err(Error::InvalidInput("a request names at least one doctype".to_owned()));
        }
        if actions.is_empty() {
            return Err(Error::InvalidInput("a request names at least one action".to_owned()));
        }
        if actions.contains(&Action::Manage) {
            return Err(Error::InvalidInput("a service cannot be granted `manage`".to_owned()));
        }
        let purpose = request.purpose.trim();
        if purpose.is_empty() || purpose.chars().count() > MAX_PURPOSE_CHARS || purpose.chars().any(|c| c.is_control() && c != '\n') {
            return Err(Error::InvalidInput(format!("a purpose must be 1 to {MAX_PURPOSE_CHARS} characters")));
        }
        // What a guardian reads before consenting must read as it is.
        crate::text::refuse_format_characters(purpose, "a purpose")?;
        if request.duration_days == 0 || request.duration_days > MAX_GRANT_DAYS {
            return Err(Error::InvalidInput(format!("a grant lasts 1 to {MAX_GRANT_DAYS} days")));
        }
        let child = self.child(request.family, request.child).await?;
        let now_check = OffsetDateTime::now_utc();
        let forbids = self.forbids_of(request.family).await?;
        if let Some(f) = forbids.iter().find(|f| doctypes.contains(&f.doctype) && covers(f, &child, self.age_rules(), now_check)) {
            return Err(Error::Forbidden(f.doctype));
        }
        let key = self.family_key(request.family).await?;
        let grant_id = GrantId::new();
        // Read before the write transaction, as everything it reads (see `Vault::concerned`).
        let members = self.members(request.family).await?;
        let mut tx = self.write_tx().await?;
        // Counted inside the write transaction that adds one, so concurrent requests cannot all slip under it: on
        // SQLite the write transaction is exclusive; on PostgreSQL an advisory lock on (family, service) serializes them.
        if self.backend() == crate::db::Backend::Postgres {
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS locked")
                .bind(format!("pending:{}:{}", request.family, request.service))
                .fetch_one(&mut *tx)
                .await?;
        }
        let pending: i64 = sqlx::query("SELECT COUNT(*) FROM grants WHERE family_id = $1 AND service_id = $2 AND state = $3")
            .bind(request.family.to_string())
            .bind(request.service.to_string())
            .bind(GrantState::Requested.as_str())
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        if pending as usize >= MAX_PENDING_PER_SERVICE {
            return Err(Error::TooManyPending(MAX_PENDING_PER_SERVICE));
        }
        let sealed = SealedPurpose::seal(&key, request.family, grant_id, purpose)?;
        let now = OffsetDateTime::now_utc();
        let grant = Grant {
            id: grant_id,
            family: request.family,
            grantee: Grantee::Service(request.service),
            child: request.child,
            doctypes,
            actions,
            purpose: purpose.to_owned(),
            legal_basis: request.legal_basis,
            requested_at: now.replace_nanosecond(0).unwrap_or(now),
            duration_days: request.duration_days,
            expires_at: None,
            state: GrantState::Requested,
            approvals: Vec::new(),
        };
        sqlx::query(
            "INSERT INTO grants (id, family_id, service_id, child_id, state, grant_json, created_at, updated_at, purpose_enc, purpose_digest) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)",
        )
        .bind(grant.id.to_string())
        .bind(grant.family.to_string())
        .bind(request.service.to_string())
        .bind(grant.child.to_string())
        .bind(grant.state.as_str())
        .bind(grant_json(&grant))
        .bind(to_millis(now))
        .bind(sealed.ciphertext.clone())
        .bind(sealed.digest.clone())
        .execute(&mut *tx)
        .await?;
        let draft = ReceiptDraft::for_grant(EventType::Request, Principal::Service(request.service), &grant, Some(sealed.digest), now);
        append(&mut tx, self.inner.backend, draft).await?;
        let awaited = self.awaited(&members, &grant, now);
        crate::notifications::add(&mut tx, &grant, NotificationKind::Request, &awaited, now).await?;
        tx.commit().await?;
        self.notified();
        Ok(grant.id)
    }

    /// What the rules and the API need to know about a grant before deciding on it, and what its service may know
    /// of it: its child, doctypes, actions, state and end (ids, names and times only; no purpose, nothing decrypted).
    pub async fn grant_outline(&self, family: FamilyId, id: GrantId) -> Result<GrantOutline> {
        let g = self.grant_record(family, id).await?;
        Ok(GrantOutline { child: g.child, doctypes: g.doctypes, actions: g.actions, state: g.state, expires_at: g.expires_at })
    }

    /// A grant as stored, its purpose left sealed (for the vault's own use before any decision).
    pub(crate) async fn grant_record(&self, family: FamilyId, id: GrantId) -> Result<Grant> {
        let row = sqlx::query("SELECT grant_json FROM grants WHERE id = $1 AND family_id = $2")
            .bind(id.to_string())
            .bind(family.to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or(Error::GrantNotFound(id))?;
        parse_grant(&row.get::<String, _>(0))
    }

    /// The grants a permit to list the family's register shows, in every state, oldest first (due expiries and
    /// majority transitions are applied first, so the list says what is true now). A member sees only the grants
    /// about children whose data the rules let them manage now (a guardian no longer sees an adult child's).
    pub async fn list_grants(&self, permit: &crate::Permit) -> Result<Vec<Grant>> {
        permit.require_register()?;
        let family = permit.family();
        self.sweep(family, OffsetDateTime::now_utc()).await?;
        let grants = self.grants_where(family, None).await?;
        match self.register_view(permit).await? {
            RegisterView::All => return Ok(grants),
            // A service's DPO: the grants given to their service.
            RegisterView::Service(service) => return Ok(grants.into_iter().filter(|g| g.grantee == Grantee::Service(service)).collect()),
            RegisterView::Members { .. } => {}
        }
        let rules = self.rules(family).await?;
        let mut manages = std::collections::HashMap::new();
        let mut visible = Vec::with_capacity(grants.len());
        for grant in grants {
            let Some(&doctype) = grant.doctypes.first() else { continue };
            let allowed = *manages.entry((grant.child, doctype)).or_insert_with(|| {
                let request = cartable_consent::AccessRequest {
                    principal: permit.principal(),
                    action: Action::Manage,
                    resource: cartable_consent::Resource::Collection { child: grant.child, doctype },
                    now: permit.decided_at(),
                };
                self.inner.authorizer.authorize(&rules.compiled, &request).is_allowed()
            });
            if allowed {
                visible.push(grant);
            }
        }
        Ok(visible)
    }

    /// The grants the permit shows (as [`Vault::list_grants`]), each with the salt of its purpose's digest (hex), for
    /// an archive: an import seals the purpose again with the same salt, so that the receipts' `purpose_digest` still
    /// name it. `None` for a grant whose purpose was never sealed.
    pub async fn grants_for_archive(&self, permit: &crate::Permit) -> Result<Vec<(Grant, Option<String>)>> {
        let grants = self.list_grants(permit).await?;
        let family = permit.family();
        let key = self.family_key(family).await?;
        let rows = sqlx::query("SELECT id, purpose_enc FROM grants WHERE family_id = $1 AND purpose_enc IS NOT NULL")
            .bind(family.to_string())
            .fetch_all(self.pool())
            .await?;
        let mut salts = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            let id: GrantId = parse_id(&row.get::<String, _>(0))?;
            salts.insert(id, SealedPurpose::open_plain(&key, family, id, &row.get::<Vec<u8>, _>(1))?.salt);
        }
        Ok(grants.into_iter().map(|g| {
            let salt = salts.remove(&g.id);
            (g, salt)
        }).collect())
    }

    /// The grants the permit shows (as [`Vault::list_grants`]), each with the stage its child is at now (under the
    /// age of digital consent, above it, adult), for the record of processing: the category, never the birth date.
    pub async fn grants_with_stages(&self, permit: &crate::Permit) -> Result<Vec<(Grant, Option<lifecycle::AgeStage>)>> {
        let grants = self.list_grants(permit).await?;
        let rules = self.rules(permit.family()).await?;
        let now = OffsetDateTime::now_utc();
        Ok(grants
            .into_iter()
            .map(|grant| {
                let stage = rules.members.iter().find(|m| m.id == grant.child).and_then(|m| lifecycle::age_stage(m, self.age_rules(), now));
                (grant, stage)
            })
            .collect())
    }

    async fn grants_where(&self, family: FamilyId, state: Option<&str>) -> Result<Vec<Grant>> {
        let rows = sqlx::query("SELECT grant_json, purpose_enc FROM grants WHERE family_id = $1 AND ($2 IS NULL OR state = $2) ORDER BY id")
            .bind(family.to_string())
            .bind(state)
            .fetch_all(self.pool())
            .await?;
        let key = self.family_key(family).await?;
        rows.iter().map(|row| open_grant(&key, row)).collect()
    }

    /// The grants the policies are compiled from, in force, with their purposes left sealed (no policy looks at them).
    pub(crate) async fn grants_in_force(&self, family: FamilyId) -> Result<Vec<Grant>> {
        let rows = sqlx::query("SELECT grant_json FROM grants WHERE family_id = $1 AND state IN ('active', 'awaiting_confirmation') ORDER BY id")
            .bind(family.to_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|row| parse_grant(&row.get::<String, _>(0))).collect()
    }

    /// A member approves a request; the grant becomes active once the approvals the age rules need are in.
    pub async fn approve(&self, permit: &crate::Permit, id: GrantId, for_member: Option<MemberId>) -> Result<ApprovalResult> {
        self.change_grant(permit, id, for_member, |vault, grant, member, child, now| {
            let outcome = lifecycle::approve(grant, member.ok_or_else(needs_member)?, child, vault.age_rules(), now)?;
            let missing = outcome
                .missing
                .iter()
                .map(|role| match role {
                    Role::Guardian => "a guardian".to_owned(),
                    Role::Child => "the child".to_owned(),
                })
                .collect();
            Ok((EventType::Approve, missing))
        })
        .await
    }

    pub async fn deny(&self, permit: &crate::Permit, id: GrantId, for_member: Option<MemberId>) -> Result<ApprovalResult> {
        self.change_grant(permit, id, for_member, |vault, grant, member, child, now| {
            lifecycle::deny(grant, member.ok_or_else(needs_member)?, child, vault.age_rules(), now)?;
            Ok((EventType::Deny, Vec::new()))
        })
        .await
    }

    /// The adult child confirms a grant a guardian approved alone before their majority.
    pub async fn confirm(&self, permit: &crate::Permit, id: GrantId, for_member: Option<MemberId>) -> Result<ApprovalResult> {
        self.change_grant(permit, id, for_member, |vault, grant, member, child, now| {
            lifecycle::confirm(grant, member.ok_or_else(needs_member)?, child, vault.age_rules(), now)?;
            Ok((EventType::Confirm, Vec::new()))
        })
        .await
    }

    /// Revokes a grant; the next decision after this returns is a deny. A member revokes under the age rules; the
    /// operator alone may revoke any grant in force or pending (`lifecycle::revoke_by_operator`).
    pub async fn revoke(&self, permit: &crate::Permit, id: GrantId, for_member: Option<MemberId>) -> Result<ApprovalResult> {
        self.change_grant(permit, id, for_member, |vault, grant, member, child, now| {
            match member {
                Some(member) => lifecycle::revoke(grant, member, child, vault.age_rules(), now)?,
                None => lifecycle::revoke_by_operator(grant)?,
            }
            Ok((EventType::Revoke, Vec::new()))
        })
        .await
    }

    /// Loads a grant, applies one lifecycle step, and commits the new state with its ledger entry. The permit must
    /// be for managing one of the grant's collections (or, the operator's, the family); `for_member` is the member
    /// the operator records the step for.
    async fn change_grant(
        &self,
        permit: &crate::Permit,
        id: GrantId,
        for_member: Option<MemberId>,
        step: impl FnOnce(&Vault, &mut Grant, Option<&cartable_consent::Member>, &cartable_consent::Member, OffsetDateTime) -> Result<(EventType, Vec<String>)>,
    ) -> Result<ApprovalResult> {
        let family = permit.family();
        let by = Acting::of(permit, for_member)?;
        let outline = self.grant_outline(family, id).await?;
        permit.require(&[Action::Manage], "grant", |r| match r {
            cartable_consent::Resource::Collection { child, doctype } => child == outline.child && outline.doctypes.contains(&doctype),
            cartable_consent::Resource::Family => by.principal() == Principal::Operator,
            _ => false,
        })?;
        let now = OffsetDateTime::now_utc();
        let now = now.replace_nanosecond(0).unwrap_or(now);
        self.sweep(family, now).await?;
        // Everything read from the pool is read before the write transaction (see `Vault::concerned`): the members,
        // the one acting and the grant's child among them (a grant's child never changes) and the family's key.
        let members = self.members(family).await?;
        let member = match by {
            Acting::Member(m) | Acting::OperatorFor(m) => Some(members.iter().find(|x| x.id == m).cloned().ok_or(Error::MemberNotFound(m))?),
            Acting::Operator => None,
        };
        let child = crate::vault::child_among(&members, outline.child)?;
        let key = self.family_key(family).await?;
        let mut tx = self.write_tx().await?;
        bump_version(&mut tx, family).await?;
        // Read inside the write transaction so two approvals cannot both start from the same state.
        let row = sqlx::query("SELECT grant_json, purpose_digest FROM grants WHERE id = $1 AND family_id = $2")
            .bind(id.to_string())
            .bind(family.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::GrantNotFound(id))?;
        let mut grant = parse_grant(&row.get::<String, _>(0))?;
        let digest: Option<String> = row.get(1);
        let (event, missing) = step(self, &mut grant, member.as_ref(), &child, now)?;
        save_grant(&mut tx, self.inner.backend, &grant, now).await?;
        let draft = ReceiptDraft::for_grant(event, by.principal(), &grant, digest, now).actor_role(member.map(|m| m.role));
        let draft = match by {
            Acting::OperatorFor(m) => draft.operator_for(m),
            _ => draft,
        };
        append(&mut tx, self.inner.backend, draft).await?;
        if ends_sealed_group(grant.state) {
            self.end_sealed_group(&mut tx, &key, &grant).await?;
        }
        self.notify_change(&mut tx, &members, &grant, now).await?;
        tx.commit().await?;
        self.sealed_changed();
        self.notified();
        if matches!(event, EventType::Approve | EventType::Confirm) && grant.state == GrantState::Active {
            // A sealed service's group is made as the grant takes effect (else at its first fetch or response).
            if let Err(e) = self.sync_group(family, id).await {
                tracing::warn!(grant = %id, error = %e, "the grant's sealed group could not be made yet");
            }
        }
        Ok(ApprovalResult { grant: id, state: grant.state, missing })
    }

    /// Applies due expiries and majority transitions, each with its ledger entry.
    pub async fn sweep(&self, family: FamilyId, now: OffsetDateTime) -> Result<usize> {
        // Only what may be due: active grants past their end (indexed), and the grants about children who have
        // come of age (a family's few; those the adult already confirmed or approved are read and left as they are).
        let members = self.members(family).await?;
        let rules = self.age_rules();
        let adults: Vec<String> = members
            .iter()
            .filter(|m| m.role == Role::Child && lifecycle::age_stage(m, rules, now) == Some(lifecycle::AgeStage::Adult))
            .map(|m| m.id.to_string())
            .collect();
        let mut sql = String::from(
            "SELECT grant_json, purpose_digest FROM grants WHERE family_id = $1 AND ((state = 'active' AND expires_at <= $2)",
        );
        if !adults.is_empty() {
            // Placeholders only: the ids are bound below.
            let placeholders: Vec<String> = (0..adults.len()).map(|i| format!("${}", i + 3)).collect();
            sql.push_str(&format!(
                " OR (state IN ('requested', 'active', 'awaiting_confirmation') AND child_id IN ({}))",
                placeholders.join(", ")
            ));
        }
        sql.push_str(") ORDER BY id");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(family.to_string()).bind(to_millis(now));
        for id in &adults {
            query = query.bind(id);
        }
        let rows = query.fetch_all(self.pool()).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut requested = Vec::with_capacity(rows.len());
        for row in &rows {
            requested.push((parse_grant(&row.get::<String, _>(0))?, row.get::<Option<String>, _>(1)));
        }
        let key = self.family_key(family).await?;
        let mut changed = 0;
        for (mut grant, digest) in requested {
            let Some(child) = members.iter().find(|m| m.id == grant.child) else { continue };
            let seen = grant.state;
            let event = if lifecycle::expire_if_due(&mut grant, now) {
                EventType::Expire
            } else if lifecycle::majority_transition(&mut grant, child, rules, now) {
                EventType::MajorityTransition
            } else {
                continue;
            };
            let mut tx = self.write_tx().await?;
            bump_version(&mut tx, family).await?;
            // Another process may have swept first: only move a grant from the state we saw.
            let current: Option<String> = sqlx::query("SELECT state FROM grants WHERE id = $1")
                .bind(grant.id.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.get(0));
            if current.as_deref() != Some(seen.as_str()) {
                continue;
            }
            save_grant(&mut tx, self.inner.backend, &grant, now).await?;
            append(&mut tx, self.inner.backend, ReceiptDraft::for_grant(event, Principal::Operator, &grant, digest, now).system()).await?;
            if ends_sealed_group(grant.state) {
                self.end_sealed_group(&mut tx, &key, &grant).await?;
            }
            self.notify_change(&mut tx, &members, &grant, now).await?;
            tx.commit().await?;
            self.sealed_changed();
            self.notified();
            changed += 1;
        }
        Ok(changed)
    }

    /// The notifications a grant's new state makes, in the transaction that changes it: a request still awaiting
    /// someone's approval (a guardian approved, the child from 15 is asked; an adult child is to confirm), or a grant
    /// that ended.
    async fn notify_change(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, members: &[cartable_consent::Member], grant: &Grant, now: OffsetDateTime) -> Result<()> {
        match grant.state {
            GrantState::Requested => {
                let awaited = self.awaited(members, grant, now);
                crate::notifications::add(tx, grant, NotificationKind::Request, &awaited, now).await?;
            }
            GrantState::AwaitingConfirmation => {
                crate::notifications::add(tx, grant, NotificationKind::Request, &[grant.child], now).await?;
            }
            GrantState::Revoked | GrantState::Expired => {
                let concerned = self.concerned(members, grant.child, now);
                crate::notifications::add(tx, grant, NotificationKind::Ended, &concerned, now).await?;
            }
            _ => {}
        }
        Ok(())
    }

    // --- prohibitions ---------------------------------------------------------------------------------------

    /// Sets a prohibition: no grant may share this doctype of the children in `scope`; it overrides every grant at
    /// once. A guardian sets the family's (the minors'), an adult child their own (the age rules of
    /// [`lifecycle::may_change_prohibition`]); the operator may set either. Returns whether it was new.
    pub async fn forbid(&self, permit: &crate::Permit, doctype: Doctype, scope: ForbidScope, for_member: Option<MemberId>) -> Result<bool> {
        self.change_prohibition(permit, doctype, scope, for_member, ProhibitionChange::Set).await
    }

    /// Lifts a prohibition; who may lift it is who may set it. Returns whether there was one.
    pub async fn lift_prohibition(&self, permit: &crate::Permit, doctype: Doctype, scope: ForbidScope, for_member: Option<MemberId>) -> Result<bool> {
        self.change_prohibition(permit, doctype, scope, for_member, ProhibitionChange::Lifted).await
    }

    /// The permit must be for managing the family (the family's prohibitions) or the adult's collection of that
    /// doctype (their own); the operator's permit on the family serves for both.
    async fn change_prohibition(
        &self,
        permit: &crate::Permit,
        doctype: Doctype,
        scope: ForbidScope,
        for_member: Option<MemberId>,
        change: ProhibitionChange,
    ) -> Result<bool> {
        let family = permit.family();
        let by = Acting::of(permit, for_member)?;
        permit.require(&[Action::Manage], "prohibition", |r| match (r, scope) {
            (cartable_consent::Resource::Family, ForbidScope::Minors) => true,
            (cartable_consent::Resource::Family, ForbidScope::Adult(_)) => by.principal() == Principal::Operator,
            (cartable_consent::Resource::Collection { child, doctype: d }, ForbidScope::Adult(adult)) => child == adult && d == doctype,
            _ => false,
        })?;
        let now = OffsetDateTime::now_utc();
        let role = match by {
            Acting::Member(m) | Acting::OperatorFor(m) => {
                let member = self.member(family, m).await?;
                lifecycle::may_change_prohibition(&member, scope, self.age_rules(), now)?;
                Some(member.role)
            }
            Acting::Operator => None,
        };
        if let ForbidScope::Adult(child) = scope {
            let child = self.child(family, child).await?;
            if lifecycle::age_stage(&child, self.age_rules(), now) != Some(lifecycle::AgeStage::Adult) {
                return Err(Error::InvalidInput("a prohibition of a child's own is for an adult child".to_owned()));
            }
        }
        let mut tx = self.write_tx().await?;
        bump_version(&mut tx, family).await?;
        let changed = match change {
            ProhibitionChange::Set => sqlx::query(
                "INSERT INTO prohibitions (family_id, doctype, scope, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (family_id, doctype, scope) DO NOTHING",
            )
            .bind(family.to_string())
            .bind(doctype.as_str())
            .bind(scope.as_stored())
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await?,
            ProhibitionChange::Lifted => sqlx::query("DELETE FROM prohibitions WHERE family_id = $1 AND doctype = $2 AND scope = $3")
                .bind(family.to_string())
                .bind(doctype.as_str())
                .bind(scope.as_stored())
                .execute(&mut *tx)
                .await?,
        }
        .rows_affected()
            > 0;
        if changed {
            let adult = match scope {
                ForbidScope::Adult(child) => Some(child),
                ForbidScope::Minors => None,
            };
            let draft = ReceiptDraft::new(family, EventType::PolicyChange, by.principal(), now).prohibition(change, doctype, adult).actor_role(role);
            let draft = match by {
                Acting::OperatorFor(m) => draft.operator_for(m),
                _ => draft,
            };
            append(&mut tx, self.inner.backend, draft).await?;
            tx.commit().await?;
        }
        Ok(changed)
    }

    /// The prohibitions in force that the permit's principal may see; the permit must be for reading the family's
    /// register. Everyone sees the family's (they cover every minor); an adult child's own is seen by that adult and
    /// by whoever sees the register about them (the operator, a DPO), not by a guardian or a sibling.
    pub async fn forbids(&self, permit: &crate::Permit) -> Result<Vec<Forbid>> {
        permit.require_register()?;
        let view = self.register_view(permit).await?;
        let all = self.forbids_of(permit.family()).await?;
        Ok(all
            .into_iter()
            .filter(|f| match f.scope {
                ForbidScope::Minors => true,
                ForbidScope::Adult(child) => view.admits(Some(child), None, None),
            })
            .collect())
    }

    pub(crate) async fn forbids_of(&self, family: FamilyId) -> Result<Vec<Forbid>> {
        let rows = sqlx::query("SELECT doctype, scope FROM prohibitions WHERE family_id = $1 ORDER BY doctype, scope")
            .bind(family.to_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let scope = ForbidScope::from_stored(&r.get::<String, _>(1)).ok_or(Error::Corrupt("a prohibition scope"))?;
                Ok(Forbid { family, doctype: parse_id(&r.get::<String, _>(0))?, scope })
            })
            .collect()
    }

    /// Moves grants stored before purposes were sealed: the purpose is encrypted to the family key and blanked in
    /// the grant's row, and the expiry column filled. Resumable: it only looks at rows not yet moved.
    pub(crate) async fn seal_stored_purposes(&self) -> Result<()> {
        let rows = sqlx::query("SELECT g.id, g.family_id, g.grant_json FROM grants g JOIN families f ON f.id = g.family_id WHERE g.purpose_enc IS NULL")
            .fetch_all(self.pool())
            .await?;
        for row in rows {
            let family: FamilyId = parse_id(&row.get::<String, _>(1))?;
            let grant = parse_grant(&row.get::<String, _>(2))?;
            // A family whose key cannot be opened is left for the next start, and the others are served.
            let key = match self.family_key(family).await {
                Ok(key) => key,
                Err(e) => {
                    tracing::warn!(%family, error = %e, "a grant's purpose could not be sealed; retried at the next start");
                    continue;
                }
            };
            let sealed = SealedPurpose::seal(&key, family, grant.id, &grant.purpose)?;
            sqlx::query("UPDATE grants SET grant_json = $1, purpose_enc = $2, purpose_digest = $3, expires_at = $4 WHERE id = $5 AND purpose_enc IS NULL")
                .bind(grant_json(&grant))
                .bind(sealed.ciphertext)
                .bind(sealed.digest)
                .bind(grant.expires_at.map(to_millis))
                .bind(row.get::<String, _>(0))
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }
}

/// Approving, denying and confirming are a member's decisions, which the operator can only record for them.
fn needs_member() -> Error {
    Error::InvalidInput("only a member decides this; the operator records it on their behalf".to_owned())
}

impl Vault {
    /// Migration 0004 gave every prohibition set before it the family's scope, which stops at majority: a child who
    /// was already an adult then keeps it as their own (with its `policy_change` entry, by the system), so that the
    /// upgrade changes no decision. Once, marked in `meta`; a family whose keys cannot be opened is retried.
    pub(crate) async fn keep_adults_prohibitions(&self) -> Result<()> {
        const DONE: &str = "prohibitions_scoped";
        if sqlx::query("SELECT 1 FROM meta WHERE key = $1").bind(DONE).fetch_optional(self.pool()).await?.is_some() {
            return Ok(());
        }
        let rows = sqlx::query("SELECT family_id, doctype FROM prohibitions WHERE scope = 'minors' ORDER BY family_id, doctype").fetch_all(self.pool()).await?;
        let mut complete = true;
        let now = OffsetDateTime::now_utc();
        for row in rows {
            let family: FamilyId = parse_id(&row.get::<String, _>(0))?;
            let doctype: Doctype = parse_id(&row.get::<String, _>(1))?;
            let members = match self.members(family).await {
                Ok(members) => members,
                Err(e) => {
                    tracing::warn!(%family, error = %e, "prohibitions not carried to adult children; retried at the next start");
                    complete = false;
                    continue;
                }
            };
            let adults = members.iter().filter(|m| m.role == Role::Child && lifecycle::age_stage(m, self.age_rules(), now) == Some(lifecycle::AgeStage::Adult));
            for adult in adults {
                let mut tx = self.write_tx().await?;
                bump_version(&mut tx, family).await?;
                let added = sqlx::query("INSERT INTO prohibitions (family_id, doctype, scope, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (family_id, doctype, scope) DO NOTHING")
                    .bind(family.to_string())
                    .bind(doctype.as_str())
                    .bind(ForbidScope::Adult(adult.id).as_stored())
                    .bind(to_millis(now))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    > 0;
                if added {
                    let draft = ReceiptDraft::new(family, EventType::PolicyChange, Principal::Operator, now).prohibition(ProhibitionChange::Set, doctype, Some(adult.id)).system();
                    append(&mut tx, self.inner.backend, draft).await?;
                    tx.commit().await?;
                }
            }
        }
        if complete {
            sqlx::query("INSERT INTO meta (key, value) VALUES ($1, '1') ON CONFLICT (key) DO NOTHING").bind(DONE).execute(self.pool()).await?;
        }
        Ok(())
    }
}

/// Who changes a grant or a prohibition (derived from the permit, and the member the operator acts for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acting {
    /// A member, signed in.
    Member(MemberId),
    /// The operator at the console recording a member's decision on their behalf: the age rules apply to the
    /// member, and the ledger names the operator as the actor, for the member.
    OperatorFor(MemberId),
    /// The operator alone (an operator's revocation).
    Operator,
}

impl Acting {
    /// Who acts under `permit`: its member, or the operator (for `for_member` when given).
    fn of(permit: &crate::Permit, for_member: Option<MemberId>) -> Result<Acting> {
        match (permit.principal(), for_member) {
            (Principal::Member(m), None) => Ok(Acting::Member(m)),
            (Principal::Operator, Some(m)) => Ok(Acting::OperatorFor(m)),
            (Principal::Operator, None) => Ok(Acting::Operator),
            _ => Err(Error::Denied("only a family member or the operator changes grants and prohibitions".to_owned())),
        }
    }

    fn principal(self) -> Principal {
        match self {
            Acting::Member(m) => Principal::Member(m),
            Acting::OperatorFor(_) | Acting::Operator => Principal::Operator,
        }
    }
}

/// Whether a prohibition covers this child's data now (the same rule as its Cedar policy).
fn covers(f: &Forbid, child: &cartable_consent::Member, rules: cartable_consent::AgeRules, now: OffsetDateTime) -> bool {
    match f.scope {
        ForbidScope::Minors => lifecycle::age_stage(child, rules, now) != Some(lifecycle::AgeStage::Adult),
        ForbidScope::Adult(c) => c == child.id,
    }
}

/// A service's name and description as families read them: trimmed, a blank description none.
fn validate_service_text<'a>(name: &'a str, description: Option<&'a str>) -> Result<(&'a str, Option<&'a str>)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::InvalidInput("a service name must be 1 to 200 characters, without control characters".to_owned()));
    }
    crate::text::refuse_format_characters(name, "a service name")?;
    let description = description.map(str::trim).filter(|d| !d.is_empty());
    if let Some(description) = description {
        if description.chars().count() > SERVICE_DESCRIPTION_LIMIT || description.chars().any(char::is_control) {
            return Err(Error::InvalidInput(format!(
                "a service description must be at most {SERVICE_DESCRIPTION_LIMIT} characters, on one line, without control characters"
            )));
        }
        crate::text::refuse_format_characters(description, "a service description")?;
    }
    Ok((name, description))
}

/// A grant's purpose, encrypted to the family key with a random salt; the ledger holds only the digest.
struct SealedPurpose {
    ciphertext: Vec<u8>,
    digest: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PurposePlain {
    salt: String,
    purpose: String,
}

fn purpose_place(family: FamilyId, grant: &str) -> crate::envelope::Place<'_> {
    crate::envelope::Place { family, field: crate::envelope::Field::GrantPurpose { grant } }
}

impl SealedPurpose {
    fn seal(key: &crate::keys::FamilyKey, family: FamilyId, grant: GrantId, purpose: &str) -> Result<SealedPurpose> {
        let mut salt = [0u8; 16];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut salt);
        Self::seal_with_salt(key, family, grant, purpose, &salt)
    }

    /// Seals with a salt already chosen (a grant brought from an archive, whose receipts hold its digest).
    fn seal_with_salt(key: &crate::keys::FamilyKey, family: FamilyId, grant: GrantId, purpose: &str, salt: &[u8]) -> Result<SealedPurpose> {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        hasher.update(b"cartable.purpose/1\0");
        hasher.update(salt);
        hasher.update(purpose.as_bytes());
        let digest = crate::records::hex(&hasher.finalize());
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&PurposePlain { salt: crate::records::hex(salt), purpose: purpose.to_owned() }).expect("a purpose serializes"),
        );
        let grant = grant.to_string();
        Ok(SealedPurpose { ciphertext: key.seal(&purpose_place(family, &grant), &plain)?, digest })
    }

    fn open(key: &crate::keys::FamilyKey, family: FamilyId, grant: GrantId, ciphertext: &[u8]) -> Result<String> {
        Ok(Self::open_plain(key, family, grant, ciphertext)?.purpose)
    }

    fn open_plain(key: &crate::keys::FamilyKey, family: FamilyId, grant: GrantId, ciphertext: &[u8]) -> Result<PurposePlain> {
        let grant = grant.to_string();
        let plain = key.open(&purpose_place(family, &grant), ciphertext)?;
        serde_json::from_slice(&plain).map_err(|_| Error::Decrypt)
    }
}


/// Inserts a grant brought from an archive, as it was (its id, state, approvals and times), inside `tx`: its purpose
/// sealed again with the salt it had (hex, 16 bytes), so that its receipts' `purpose_digest` still name it, or a
/// new one when it had none. Returns the digest.
pub(crate) async fn insert_imported_grant(tx: &mut sqlx::Transaction<'_, sqlx::Any>, key: &crate::keys::FamilyKey, grant: &Grant, salt: Option<&str>) -> Result<String> {
    let salt = match salt {
        Some(hex) => (hex.len() == 32)
            .then(|| (0..16).map(|i| hex.get(2 * i..2 * i + 2).and_then(|b| u8::from_str_radix(b, 16).ok())).collect::<Option<Vec<u8>>>())
            .flatten()
            .ok_or_else(|| Error::InvalidInput(format!("grant `{}`: its purpose's salt is not 32 hexadecimal digits", grant.id)))?,
        None => {
            let mut fresh = [0u8; 16];
            rand::Rng::fill(&mut rand::rngs::OsRng, &mut fresh);
            fresh.to_vec()
        }
    };
    let sealed = SealedPurpose::seal_with_salt(key, grant.family, grant.id, &grant.purpose, &salt)?;
    let service = match grant.grantee {
        Grantee::Service(s) => Some(s.to_string()),
        Grantee::Member(_) => None,
    };
    sqlx::query(
        "INSERT INTO grants (id, family_id, service_id, child_id, state, grant_json, created_at, updated_at, purpose_enc, purpose_digest, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(grant.id.to_string())
    .bind(grant.family.to_string())
    .bind(service)
    .bind(grant.child.to_string())
    .bind(grant.state.as_str())
    .bind(grant_json(grant))
    .bind(to_millis(grant.requested_at))
    .bind(to_millis(OffsetDateTime::now_utc()))
    .bind(sealed.ciphertext)
    .bind(&sealed.digest)
    .bind(grant.expires_at.map(to_millis))
    .execute(&mut **tx)
    .await?;
    Ok(sealed.digest)
}

/// A grant row (`grant_json`, `purpose_enc`) with its purpose opened.
fn open_grant(key: &crate::keys::FamilyKey, row: &sqlx::any::AnyRow) -> Result<Grant> {
    let mut grant = parse_grant(&row.get::<String, _>(0))?;
    if let Some(sealed) = row.get::<Option<Vec<u8>>, _>(1) {
        grant.purpose = SealedPurpose::open(key, grant.family, grant.id, &sealed)?;
    }
    Ok(grant)
}

/// Whether a grant in this state has ended for its service: its sealed group keeps no instance.
fn ends_sealed_group(state: GrantState) -> bool {
    matches!(state, GrantState::Revoked | GrantState::Expired | GrantState::Denied)
}

/// Stores a grant's new state. On PostgreSQL the change is announced to every server (`NOTIFY`, delivered when the
/// transaction commits and only if it does), which wakes their services' long polls (`Vault::grant_changes`).
async fn save_grant(tx: &mut sqlx::Transaction<'_, sqlx::Any>, backend: crate::db::Backend, grant: &Grant, now: OffsetDateTime) -> Result<()> {
    sqlx::query("UPDATE grants SET state = $1, grant_json = $2, updated_at = $3, expires_at = $4 WHERE id = $5")
        .bind(grant.state.as_str())
        .bind(grant_json(grant))
        .bind(to_millis(now))
        .bind(grant.expires_at.map(to_millis))
        .bind(grant.id.to_string())
        .execute(&mut **tx)
        .await?;
    if backend == crate::db::Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)").bind(crate::watch::GRANT_CHANNEL).bind(grant.id.to_string()).execute(&mut **tx).await?;
    }
    Ok(())
}
