//! Families and their members: `cartable family …`, `cartable member …`.

use anyhow::{Context, anyhow, bail};
use cartable_consent::{Action, FamilyId, MemberId, Resource, Role};
use clap::Subcommand;
use serde_json::json;

use super::console::Console;
use super::output::MemberLine;

#[derive(Debug, Subcommand)]
pub(super) enum FamilyCmd {
    Create {
        #[arg(long)]
        name: String,
        /// Print a one-time invitation link (valid 7 days) for the family's first guardian.
        #[arg(long)]
        invite: bool,
    },
    List,
    /// Erase a family: its key first, then its data; its ledger stays, ending with the erasure.
    Delete {
        #[arg(long)]
        family: FamilyId,
        /// Confirm the erasure; it cannot be undone.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum MemberCmd {
    Add {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        role: Role,
        #[arg(long)]
        name: String,
        /// YYYY-MM-DD; required for a child.
        #[arg(long)]
        birth_date: Option<String>,
    },
    List {
        #[arg(long)]
        family: FamilyId,
    },
    /// Set a member's password, read from standard input.
    SetPassword {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        member: MemberId,
    },
}

impl FamilyCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        let out = &console.out;
        let (vault, config) = console.open().await?;
        match self {
            FamilyCmd::Create { name, invite: false } => {
                let id = vault.create_family(&name).await?;
                out.emit(json!({"family_id": id}), || id.to_string());
            }
            FamilyCmd::Create { name, invite: true } => {
                let id = vault.create_family(&name).await?;
                let link = invite_guardian(&vault, &config, id).await?;
                out.emit(json!({"family_id": id, "invitation": link, "valid_days": INVITATION_DAYS}), || {
                    format!("{id}\ninvitation for the first guardian (valid {INVITATION_DAYS} days, once): {link}")
                });
            }
            FamilyCmd::List => {
                let ids = vault.list_families().await?;
                out.emit(json!({"families": ids}), || ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("\n"));
            }
            FamilyCmd::Delete { family, yes } => {
                if !yes {
                    bail!("erasing family `{family}` cannot be undone: add --yes to confirm");
                }
                vault.delete_family(&vault.as_operator(family, Action::Manage, Resource::Family).await?).await?;
                out.emit(json!({"deleted": family}), || format!("family {family} erased"));
            }
        }
        Ok(())
    }
}

impl MemberCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        let out = &console.out;
        let (vault, _) = console.open().await?;
        match self {
            MemberCmd::Add { family, role, name, birth_date } => {
                let birth_date = birth_date.map(|d| parse_date(&d)).transpose()?;
                let permit = vault.as_operator(family, Action::Manage, Resource::Family).await?;
                let id = vault.add_member(&permit, role, &name, birth_date).await?;
                out.emit(json!({"member_id": id}), || id.to_string());
            }
            MemberCmd::List { family } => {
                let permit = vault.as_operator(family, Action::Read, Resource::Family).await?;
                let members = vault.list_members(&permit).await?;
                let lines: Vec<MemberLine> = members.iter().map(MemberLine::of).collect();
                out.emit(json!({"members": lines}), || {
                    members
                        .iter()
                        .map(|m| format!("{}  {:8}  {}{}", m.id, m.role.as_str(), m.name, m.birth_date.map(|d| format!("  ({d})")).unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
            MemberCmd::SetPassword { family, member } => {
                let mut password = String::new();
                std::io::stdin().read_line(&mut password).context("cannot read the password from standard input")?;
                let password = password.trim_end_matches(['\r', '\n']);
                let hash = crate::auth::hash_password(password)?;
                let permit = vault.as_operator(family, Action::Manage, Resource::Family).await?;
                vault.set_password_hash(&permit, member, &hash).await?;
                out.emit(json!({"member_id": member, "password": "set"}), || "password set".to_owned());
            }
        }
        Ok(())
    }
}

/// How long an invitation link may be used.
const INVITATION_DAYS: i64 = 7;

/// A one-time invitation for a family's guardian: the link holds the token, the vault only its hash.
pub(super) async fn invite_guardian(vault: &cartable_vault::Vault, config: &crate::config::Config, family: FamilyId) -> anyhow::Result<String> {
    invite_member(vault, config, cartable_vault::InvitationKind::FamilyGuardian(family)).await
}

/// A one-time invitation of the operator's, of any kind: the link holds the token, the vault only its hash.
pub(super) async fn invite_member(vault: &cartable_vault::Vault, config: &crate::config::Config, kind: cartable_vault::InvitationKind) -> anyhow::Result<String> {
    let token = crate::auth::new_secret();
    let expires_at = time::OffsetDateTime::now_utc() + time::Duration::days(INVITATION_DAYS);
    vault.create_invitation(kind, &crate::auth::hash_token(&token), expires_at).await?;
    // An import's invitation opens the import page; the others, the page that sets a sign-in.
    let page = if kind == cartable_vault::InvitationKind::FamilyImport { "import" } else { "invitation" };
    Ok(format!("{}/{page}/{token}", config.public_url))
}

fn parse_date(s: &str) -> anyhow::Result<time::Date> {
    time::Date::parse(s, &time::format_description::well_known::Iso8601::DATE).map_err(|_| anyhow!("`{s}` is not a date (YYYY-MM-DD)"))
}
