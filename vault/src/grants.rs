//! Services, access requests and grants, and family-wide prohibitions. Every change of state commits in the
//! same transaction as its ledger entry: no grant without its entry, no entry without its grant.

use cartable_consent::ledger::EventType;
use cartable_consent::{
    Action, Doctype, FamilyId, Forbid, Grant, GrantId, GrantState, Grantee, LegalBasis, MemberId, Principal, Role,
    ServiceId, lifecycle,
};
use serde::Serialize;
use sqlx::Row;
use time::OffsetDateTime;

use crate::db::to_millis;
use crate::error::{Error, Result};
use crate::ledger::{ReceiptDraft, append};
use crate::vault::{Vault, bump_version, parse_id};

/// The longest a grant may last, in days.
pub const MAX_GRANT_DAYS: u32 = 3 * 366;
const MAX_PURPOSE_CHARS: usize = 500;

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

/// The state after an approval, and who must still approve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalResult {
    pub grant: GrantId,
    pub state: GrantState,
    /// Plain words, e.g. `the child`.
    pub missing: Vec<String>,
}

impl Vault {
    // --- services -------------------------------------------------------------------------------------------

    /// Registers a service; the caller hashes its secret (only the hash is stored).
    pub async fn register_service(&self, name: &str, secret_hash: &str) -> Result<ServiceId> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(Error::InvalidInput("a service name must be 1 to 200 characters, without control characters".to_owned()));
        }
        let id = ServiceId::new();
        sqlx::query("INSERT INTO services (id, name, secret_hash, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id.to_string())
            .bind(name)
            .bind(secret_hash)
            .bind(to_millis(OffsetDateTime::now_utc()))
            .execute(self.pool())
            .await?;
        Ok(id)
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
        if self.service(request.service).await?.is_none() {
            return Err(Error::ServiceNotFound(request.service.to_string()));
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
        if request.duration_days == 0 || request.duration_days > MAX_GRANT_DAYS {
            return Err(Error::InvalidInput(format!("a grant lasts 1 to {MAX_GRANT_DAYS} days")));
        }
        let forbids = self.forbids(request.family).await?;
        if let Some(f) = forbids.iter().find(|f| doctypes.contains(&f.doctype)) {
            return Err(Error::Forbidden(f.doctype));
        }
        let now = OffsetDateTime::now_utc();
        let grant = Grant {
            id: GrantId::new(),
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
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO grants (id, family_id, service_id, child_id, state, grant_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(grant.id.to_string())
        .bind(grant.family.to_string())
        .bind(request.service.to_string())
        .bind(grant.child.to_string())
        .bind(grant.state.as_str())
        .bind(serde_json::to_string(&grant).expect("grants serialize"))
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await?;
        append(&mut tx, &self.inner.origin, ReceiptDraft::for_grant(EventType::Request, Principal::Service(request.service), &grant, now)).await?;
        tx.commit().await?;
        Ok(grant.id)
    }

    pub async fn grant(&self, family: FamilyId, id: GrantId) -> Result<Grant> {
        let row = sqlx::query("SELECT grant_json FROM grants WHERE id = $1 AND family_id = $2")
            .bind(id.to_string())
            .bind(family.to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or(Error::GrantNotFound(id))?;
        serde_json::from_str(&row.get::<String, _>(0)).map_err(|_| Error::Database("a stored grant is malformed".to_owned()))
    }

    /// Finds the family a grant belongs to (services know grant ids, not families).
    pub async fn grant_family(&self, id: GrantId) -> Result<FamilyId> {
        let row = sqlx::query("SELECT family_id FROM grants WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or(Error::GrantNotFound(id))?;
        parse_id(&row.get::<String, _>(0))
    }

    /// Every grant of the family, in every state, oldest first; due expiries and majority transitions are
    /// applied first so the list says what is true now.
    pub async fn list_grants(&self, family: FamilyId) -> Result<Vec<Grant>> {
        self.sweep(family, OffsetDateTime::now_utc()).await?;
        self.grants_where(family, None).await
    }

    /// The grants a permit to list the family's register shows: a member sees only the grants about children
    /// whose data the rules let them manage now (a guardian no longer sees an adult child's grants).
    pub async fn list_grants_for(&self, permit: &cartable_consent::Permit) -> Result<Vec<Grant>> {
        if permit.action() != Action::List || !matches!(permit.resource(), cartable_consent::Resource::Register) {
            return Err(Error::PermitMismatch("register"));
        }
        let family = permit.family();
        let grants = self.list_grants(family).await?;
        if !matches!(permit.principal(), Principal::Member(_)) {
            return Ok(grants);
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

    pub(crate) async fn grants_in_force(&self, family: FamilyId) -> Result<Vec<Grant>> {
        let mut grants = self.grants_where(family, Some("active")).await?;
        grants.extend(self.grants_where(family, Some("awaiting_confirmation")).await?);
        Ok(grants)
    }

    async fn grants_where(&self, family: FamilyId, state: Option<&str>) -> Result<Vec<Grant>> {
        let rows = sqlx::query("SELECT grant_json FROM grants WHERE family_id = $1 AND ($2 IS NULL OR state = $2) ORDER BY id")
            .bind(family.to_string())
            .bind(state)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| serde_json::from_str(&row.get::<String, _>(0)).map_err(|_| Error::Database("a stored grant is malformed".to_owned())))
            .collect()
    }

    /// A member approves a request; the grant becomes active once the approvals the age rules need are in.
    pub async fn approve(&self, family: FamilyId, id: GrantId, by: MemberId) -> Result<ApprovalResult> {
        self.change_grant(family, id, Principal::Member(by), |vault, grant, member, child, now| {
            let outcome = lifecycle::approve(grant, member.ok_or(Error::MemberNotFound(by))?, child, vault.age_rules(), now)?;
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

    pub async fn deny(&self, family: FamilyId, id: GrantId, by: MemberId) -> Result<ApprovalResult> {
        self.change_grant(family, id, Principal::Member(by), |vault, grant, member, child, now| {
            lifecycle::deny(grant, member.ok_or(Error::MemberNotFound(by))?, child, vault.age_rules(), now)?;
            Ok((EventType::Deny, Vec::new()))
        })
        .await
    }

    /// The adult child confirms a grant a guardian approved alone before their majority.
    pub async fn confirm(&self, family: FamilyId, id: GrantId, by: MemberId) -> Result<ApprovalResult> {
        self.change_grant(family, id, Principal::Member(by), |vault, grant, member, child, now| {
            lifecycle::confirm(grant, member.ok_or(Error::MemberNotFound(by))?, child, vault.age_rules(), now)?;
            Ok((EventType::Confirm, Vec::new()))
        })
        .await
    }

    /// Revokes a grant; the next decision after this returns is a deny. `by` is a member, or the operator.
    pub async fn revoke(&self, family: FamilyId, id: GrantId, by: Principal) -> Result<ApprovalResult> {
        self.change_grant(family, id, by, |vault, grant, member, child, now| {
            match member {
                Some(member) => lifecycle::revoke(grant, member, child, vault.age_rules(), now)?,
                None => match grant.state {
                    GrantState::Requested | GrantState::Active | GrantState::AwaitingConfirmation => {
                        grant.state = GrantState::Revoked;
                    }
                    other => {
                        return Err(Error::InvalidInput(format!("grant `{}` is {} and cannot be revoked", grant.id, other.as_str())));
                    }
                },
            }
            Ok((EventType::Revoke, Vec::new()))
        })
        .await
    }

    /// Loads a grant, applies one lifecycle step, and commits the new state with its ledger entry.
    async fn change_grant(
        &self,
        family: FamilyId,
        id: GrantId,
        by: Principal,
        step: impl FnOnce(&Vault, &mut Grant, Option<&cartable_consent::Member>, &cartable_consent::Member, OffsetDateTime) -> Result<(EventType, Vec<String>)>,
    ) -> Result<ApprovalResult> {
        let now = OffsetDateTime::now_utc();
        let now = now.replace_nanosecond(0).unwrap_or(now);
        self.sweep(family, now).await?;
        let member = match by {
            Principal::Member(m) => Some(self.member(family, m).await?),
            Principal::Operator => None,
            _ => return Err(Error::Denied("only a family member or the operator may change a grant".to_owned())),
        };
        let mut tx = self.write_tx().await?;
        bump_version(&mut tx, family).await?;
        // Read inside the write transaction so two approvals cannot both start from the same state.
        let row = sqlx::query("SELECT grant_json FROM grants WHERE id = $1 AND family_id = $2")
            .bind(id.to_string())
            .bind(family.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::GrantNotFound(id))?;
        let mut grant: Grant = serde_json::from_str(&row.get::<String, _>(0)).map_err(|_| Error::Database("a stored grant is malformed".to_owned()))?;
        let child = self.child(family, grant.child).await?;
        let (event, missing) = step(self, &mut grant, member.as_ref(), &child, now)?;
        save_grant(&mut tx, &grant, now).await?;
        append(&mut tx, &self.inner.origin, ReceiptDraft::for_grant(event, by, &grant, now).actor_role(member.map(|m| m.role))).await?;
        tx.commit().await?;
        Ok(ApprovalResult { grant: id, state: grant.state, missing })
    }

    /// Applies due expiries and majority transitions, each with its ledger entry.
    pub async fn sweep(&self, family: FamilyId, now: OffsetDateTime) -> Result<usize> {
        let candidates = self.grants_in_force(family).await?;
        let mut requested = self.grants_where(family, Some("requested")).await?;
        requested.extend(candidates);
        if requested.is_empty() {
            return Ok(0);
        }
        let members = self.members(family).await?;
        let rules = self.age_rules();
        let mut changed = 0;
        for mut grant in requested {
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
            save_grant(&mut tx, &grant, now).await?;
            append(&mut tx, &self.inner.origin, ReceiptDraft::for_grant(event, Principal::Operator, &grant, now).system()).await?;
            tx.commit().await?;
            changed += 1;
        }
        Ok(changed)
    }

    // --- prohibitions ---------------------------------------------------------------------------------------

    /// A family-wide prohibition: no grant may share this doctype; it overrides every grant at once.
    pub async fn forbid(&self, family: FamilyId, doctype: Doctype, by: Principal) -> Result<bool> {
        let now = OffsetDateTime::now_utc();
        let mut tx = self.write_tx().await?;
        bump_version(&mut tx, family).await?;
        let inserted = sqlx::query("INSERT INTO forbids (family_id, doctype, created_at) VALUES ($1, $2, $3) ON CONFLICT (family_id, doctype) DO NOTHING")
            .bind(family.to_string())
            .bind(doctype.as_str())
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if inserted {
            let role = match by {
                Principal::Member(m) => Some(self.member(family, m).await?.role),
                _ => None,
            };
            append(&mut tx, &self.inner.origin, ReceiptDraft::new(family, EventType::PolicyChange, by).at(now).categories(vec![doctype]).actor_role(role)).await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    pub async fn forbids(&self, family: FamilyId) -> Result<Vec<Forbid>> {
        let rows = sqlx::query("SELECT doctype FROM forbids WHERE family_id = $1 ORDER BY doctype")
            .bind(family.to_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok(Forbid { family, doctype: parse_id(&r.get::<String, _>(0))? })).collect()
    }
}

async fn save_grant(tx: &mut sqlx::Transaction<'_, sqlx::Any>, grant: &Grant, now: OffsetDateTime) -> Result<()> {
    sqlx::query("UPDATE grants SET state = $1, grant_json = $2, updated_at = $3 WHERE id = $4")
        .bind(grant.state.as_str())
        .bind(serde_json::to_string(grant).expect("grants serialize"))
        .bind(to_millis(now))
        .bind(grant.id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
