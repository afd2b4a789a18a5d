//! Consent: services, their requests, grants, the family's prohibitions and decisions explained (`cartable service …`,
//! `request …`, `grant …`, `policy …`, `access …`).

use anyhow::{anyhow, bail};
use cartable_consent::{
    AccessRequest, Action, Doctype, DpoId, FamilyId, ForbidScope, GrantId, LegalBasis, MemberId, Principal, RecordId, Resource, ServiceId,
};
use cartable_vault::{NewRequest, Vault};
use clap::Subcommand;
use serde_json::json;
use time::OffsetDateTime;

use super::console::Console;
use super::output::{ApprovalLine, GrantLine};

#[derive(Debug, Subcommand)]
pub(super) enum ServiceCmd {
    Register {
        #[arg(long)]
        name: String,
        /// What the service is, shown to families beside its name when it asks them (one line, at most 500
        /// characters).
        #[arg(long)]
        description: Option<String>,
    },
    /// Lets a service registered under `registration = "operator-approved"` ask families for access.
    Approve {
        #[arg(long)]
        service: ServiceId,
    },
    /// The services waiting for approval.
    Pending,
    /// Gives a service a new secret (printed once); its old one stops working. A service an imported family's
    /// grants name has none until then.
    Secret {
        #[arg(long)]
        service: ServiceId,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum RequestCmd {
    Create {
        #[arg(long)]
        service: ServiceId,
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        child: MemberId,
        /// Comma-separated doctypes.
        #[arg(long, value_delimiter = ',', required = true)]
        doctype: Vec<Doctype>,
        /// Comma-separated actions: read, list, search, write, export.
        #[arg(long, value_delimiter = ',', required = true)]
        actions: Vec<Action>,
        #[arg(long)]
        purpose: String,
        #[arg(long, default_value = "consent")]
        legal_basis: LegalBasis,
        #[arg(long)]
        days: u32,
    },
    Approve {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        request: GrantId,
        #[arg(long)]
        by: MemberId,
    },
    Deny {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        request: GrantId,
        #[arg(long)]
        by: MemberId,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum GrantCmd {
    List {
        #[arg(long)]
        family: FamilyId,
    },
    Revoke {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        grant: GrantId,
        /// The member who revokes; default: the operator.
        #[arg(long)]
        by: Option<MemberId>,
    },
    /// The adult child confirms a grant a guardian approved alone.
    Confirm {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        grant: GrantId,
        #[arg(long)]
        by: MemberId,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum PolicyCmd {
    /// Never share this doctype with any service, whatever a grant says: the family's prohibition (over the
    /// minors), or with --child an adult child's own.
    Forbid {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        doctype: Doctype,
        /// An adult child: their own prohibition over their own data.
        #[arg(long)]
        child: Option<MemberId>,
        /// Record it on behalf of this member (their rights apply; the ledger names the operator, for them).
        #[arg(long)]
        by: Option<MemberId>,
    },
    /// Lifts a prohibition (the same scope and rights as `forbid`).
    Lift {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        doctype: Doctype,
        #[arg(long)]
        child: Option<MemberId>,
        #[arg(long)]
        by: Option<MemberId>,
    },
    /// The Cedar policies in force for the family.
    Show {
        #[arg(long)]
        family: FamilyId,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum AccessCmd {
    /// Would this principal be allowed this action on this record? Reads no data.
    Check {
        #[arg(long)]
        family: FamilyId,
        /// `service:ID`, `member:ID`, `dpo:ID` or `operator`.
        #[arg(long)]
        principal: String,
        #[arg(long)]
        action: Action,
        #[arg(long, required_unless_present = "doctype")]
        record: Option<RecordId>,
        /// With --child, a collection instead of a record.
        #[arg(long, requires = "child")]
        doctype: Option<Doctype>,
        #[arg(long)]
        child: Option<MemberId>,
        /// RFC 3339 time to decide at; default: now.
        #[arg(long)]
        at: Option<String>,
    },
}

impl ServiceCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        let out = &console.out;
        let (vault, _) = console.open().await?;
        match self {
            ServiceCmd::Register { name, description } => {
                let secret = crate::auth::new_secret();
                // Registered by the operator: approved at once.
                let id = vault.register_service(&name, description.as_deref(), &crate::auth::hash_token(&secret), true).await?;
                out.emit(json!({"service_id": id, "secret": secret}), || {
                    format!("service {id}\nsecret {secret}\n(the secret is shown once; store it now)")
                });
            }
            ServiceCmd::Approve { service } => {
                vault.approve_service(service).await?;
                out.emit(json!({"service_id": service, "approved": true}), || format!("service {service} may now ask families for access"));
            }
            ServiceCmd::Secret { service } => {
                let secret = crate::auth::new_secret();
                vault.set_service_secret(service, &crate::auth::hash_token(&secret)).await?;
                out.emit(json!({"service_id": service, "secret": secret}), || {
                    format!("service {service}\nsecret {secret}\n(the secret is shown once; store it now)")
                });
            }
            ServiceCmd::Pending => {
                let pending = vault.services_awaiting_approval().await?;
                let list: Vec<_> = pending.iter().map(|(id, name)| json!({"service_id": id, "name": name})).collect();
                out.emit(json!({"services": list}), || pending.iter().map(|(id, name)| format!("{id}  {name}")).collect::<Vec<_>>().join("\n"));
            }
        }
        Ok(())
    }
}

impl RequestCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        let out = &console.out;
        let (vault, _) = console.open().await?;
        match self {
            RequestCmd::Create { service, family, child, doctype, actions, purpose, legal_basis, days } => {
                let id = vault
                    .create_request(NewRequest { service, family, child, doctypes: doctype, actions, purpose, legal_basis, duration_days: days })
                    .await?;
                out.emit(json!({"request_id": id}), || id.to_string());
            }
            RequestCmd::Approve { family, request, by } => {
                // The operator records the member's decision: the ledger names the operator, for the member.
                let result = vault.approve(&grant_permit(&vault, family, request).await?, request, Some(by)).await?;
                out.emit(serde_json::to_value(ApprovalLine::of(&result))?, || approval_text(&result));
            }
            RequestCmd::Deny { family, request, by } => {
                let result = vault.deny(&grant_permit(&vault, family, request).await?, request, Some(by)).await?;
                out.emit(serde_json::to_value(ApprovalLine::of(&result))?, || format!("request {request} denied"));
            }
        }
        Ok(())
    }
}

impl GrantCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        let out = &console.out;
        let (vault, _) = console.open().await?;
        match self {
            GrantCmd::List { family } => {
                let grants = vault.list_grants(&vault.as_operator(family, Action::List, Resource::Register).await?).await?;
                let listed: Vec<GrantLine> = grants.iter().map(GrantLine::of).collect();
                out.emit(json!({"grants": listed}), || {
                    grants
                        .iter()
                        .map(|g| {
                            let doctypes: Vec<&str> = g.doctypes.iter().map(|d| d.as_str()).collect();
                            let actions: Vec<&str> = g.actions.iter().map(|a| a.as_str()).collect();
                            format!(
                                "{}  {:21}  child {}  {}  {}{}",
                                g.id,
                                g.state.as_str(),
                                g.child,
                                doctypes.join(","),
                                actions.join(","),
                                g.expires_at.map(|e| format!("  until {e}")).unwrap_or_default()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
            GrantCmd::Revoke { family, grant, by } => {
                let result = vault.revoke(&grant_permit(&vault, family, grant).await?, grant, by).await?;
                out.emit(serde_json::to_value(ApprovalLine::of(&result))?, || format!("grant {grant} revoked"));
            }
            GrantCmd::Confirm { family, grant, by } => {
                let result = vault.confirm(&grant_permit(&vault, family, grant).await?, grant, Some(by)).await?;
                out.emit(serde_json::to_value(ApprovalLine::of(&result))?, || format!("grant {grant} confirmed"));
            }
        }
        Ok(())
    }
}

impl PolicyCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        let out = &console.out;
        let (vault, _) = console.open().await?;
        match self {
            PolicyCmd::Forbid { family, doctype, child, by } => {
                let scope = child.map_or(ForbidScope::Minors, ForbidScope::Adult);
                let permit = vault.as_operator(family, Action::Manage, Resource::Family).await?;
                let added = vault.forbid(&permit, doctype, scope, by).await?;
                out.emit(json!({"family_id": family, "forbidden": doctype, "child_id": child, "added": added}), || {
                    if added { format!("{doctype} is now never shared") } else { format!("{doctype} was already never shared") }
                });
            }
            PolicyCmd::Lift { family, doctype, child, by } => {
                let scope = child.map_or(ForbidScope::Minors, ForbidScope::Adult);
                let permit = vault.as_operator(family, Action::Manage, Resource::Family).await?;
                let lifted = vault.lift_prohibition(&permit, doctype, scope, by).await?;
                if !lifted {
                    bail!("there is no such prohibition of {doctype}");
                }
                out.emit(json!({"family_id": family, "lifted": doctype, "child_id": child}), || format!("{doctype} may be shared again under a grant"));
            }
            PolicyCmd::Show { family } => {
                let text = vault.policy_text(&vault.as_operator(family, Action::Read, Resource::Register).await?).await?;
                out.emit(json!({"family_id": family, "policies": text}), || text.clone());
            }
        }
        Ok(())
    }
}

impl AccessCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        let out = &console.out;
        let AccessCmd::Check { family, principal, action, record, doctype, child, at } = self;
        let (vault, _) = console.open().await?;
        let principal = parse_principal(&principal)?;
        let now = match at {
            Some(at) => OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339).map_err(|_| anyhow!("--at must be an RFC 3339 time, e.g. 2026-09-01T08:00:00Z"))?,
            None => OffsetDateTime::now_utc(),
        };
        let resource = match (record, child, doctype) {
            (Some(id), _, _) => vault.record_resource(family, id).await?,
            (None, Some(child), Some(doctype)) => Resource::Collection { child, doctype },
            _ => bail!("give --record, or --child with --doctype"),
        };
        let decision = vault.explain(family, &AccessRequest { principal, action, resource, now }).await?;
        let word = if decision.is_allowed() { "allow" } else { "deny" };
        let reasons: Vec<String> = decision.reasons().iter().map(ToString::to_string).collect();
        out.emit(json!({"decision": word, "reasons": reasons}), || format!("{word}\n{}", reasons.join("\n")));
        Ok(())
    }
}

fn parse_principal(s: &str) -> anyhow::Result<Principal> {
    if s == "operator" {
        return Ok(Principal::Operator);
    }
    let (kind, id) = s.split_once(':').ok_or_else(|| anyhow!("a principal is `service:ID`, `member:ID`, `dpo:ID` or `operator`"))?;
    Ok(match kind {
        "service" => Principal::Service(id.parse::<ServiceId>()?),
        "member" => Principal::Member(id.parse::<MemberId>()?),
        "dpo" => Principal::Dpo(id.parse::<DpoId>()?),
        other => bail!("unknown principal kind `{other}` (service, member, dpo, operator)"),
    })
}

fn approval_text(r: &cartable_vault::ApprovalResult) -> String {
    if r.missing.is_empty() {
        format!("grant {} is {}", r.grant, r.state.as_str())
    } else {
        format!("grant {} is {}; still needed: {}", r.grant, r.state.as_str(), r.missing.join(", "))
    }
}

/// The operator's permit to act on a grant: to manage the first collection it names (decided and logged).
async fn grant_permit(vault: &Vault, family: FamilyId, grant: GrantId) -> anyhow::Result<cartable_vault::Permit> {
    let outline = vault.grant_outline(family, grant).await?;
    let doctype = *outline.doctypes.first().ok_or_else(|| anyhow::anyhow!("grant `{grant}` names no collection"))?;
    Ok(vault.as_operator(family, Action::Manage, Resource::Collection { child: outline.child, doctype }).await?)
}
