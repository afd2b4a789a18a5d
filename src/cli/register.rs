//! DPOs and the register across families: `cartable dpo …`, `cartable register …`.
//!
//! The console acts as the operator: each family's register is decided for the `Operator` principal and logged in
//! that family's ledger, as every command's access.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use cartable_consent::{FamilyId, ServiceId};
use clap::Subcommand;
use futures::StreamExt as _;
use serde_json::json;

use super::console::Console;
use super::data::PrivateFile;
use super::output::DpoLine;
use crate::register::csv::{Format, export};
use crate::register::{Query, Reader, Walk, instant, processing};

#[derive(Debug, Subcommand)]
pub(super) enum DpoCmd {
    /// Appoint a DPO: the operator's (every family) or, with --service, a registered service's (its grants and
    /// accesses only).
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        service: Option<ServiceId>,
        /// Print a one-time link with which the DPO chooses a sign-in name and a password.
        #[arg(long)]
        invite: bool,
    },
    /// A new one-time invitation link for a DPO (to set their sign-in name and password).
    Invite { dpo: cartable_consent::DpoId },
    /// The DPOs appointed on this server.
    List,
}

/// Which entries of the register (every option narrows).
#[derive(Debug, clap::Args)]
pub(super) struct Filter {
    #[arg(long)]
    family: Option<FamilyId>,
    #[arg(long)]
    service: Option<ServiceId>,
    /// An event: request, approve, confirm, deny, revoke, expire, policy_change, access_allowed, access_denied, …
    #[arg(long)]
    event: Option<String>,
    /// consent, contract, legal-obligation, vital-interest, public-task, legitimate-interest.
    #[arg(long)]
    legal_basis: Option<String>,
    /// Words the grant's purpose contains.
    #[arg(long)]
    purpose: Option<String>,
    /// From this instant (RFC 3339) or day (YYYY-MM-DD).
    #[arg(long)]
    since: Option<String>,
    /// Until this instant (RFC 3339, excluded) or day (YYYY-MM-DD, included).
    #[arg(long)]
    until: Option<String>,
}

impl Filter {
    fn query(self) -> anyhow::Result<Query> {
        Ok(Query {
            family: self.family,
            service: self.service,
            event: self.event.map(|e| e.parse()).transpose().map_err(|e| anyhow!("{e}"))?,
            legal_basis: self.legal_basis.map(|l| l.parse()).transpose().map_err(|e| anyhow!("{e}"))?,
            purpose: self.purpose.map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()),
            since: self.since.map(|s| instant(&s, false)).transpose()?,
            until: self.until.map(|s| instant(&s, true)).transpose()?,
            after: None,
        })
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum RegisterCmd {
    /// List register entries across families (families in id order, each log oldest first).
    List {
        #[command(flatten)]
        filter: Filter,
        /// Continue after this entry (`family:index`, as the previous page ends).
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Export the register, streamed: CSV (documented columns) or JSON lines.
    Export {
        #[command(flatten)]
        filter: Filter,
        /// csv or jsonl.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Where to write it (created 0600); standard output without.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// The record of processing activities (GDPR art. 30), from the grants: per service.
    Processing {
        /// As CSV rather than text (or --json).
        #[arg(long)]
        csv: bool,
    },
    /// Verify every family's log (the replay of `ledger verify`), with progress.
    Verify,
}

impl DpoCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        let (vault, config) = console.open().await?;
        let out = &console.out;
        match self {
            DpoCmd::Add { name, service, invite } => {
                let dpo = vault.add_dpo(&name, service).await?;
                let link = if invite { Some(invite_dpo(&vault, &config, dpo).await?) } else { None };
                out.emit(json!({"dpo_id": dpo, "invitation": link}), || match &link {
                    Some(link) => format!("{dpo}\ninvitation (valid {INVITATION_DAYS} days, once): {link}"),
                    None => dpo.to_string(),
                });
            }
            DpoCmd::Invite { dpo } => {
                let link = invite_dpo(&vault, &config, dpo).await?;
                out.emit(json!({"dpo_id": dpo, "invitation": link}), || link.clone());
            }
            DpoCmd::List => {
                let dpos = vault.list_dpos().await?;
                let lines: Vec<DpoLine> = dpos.iter().map(DpoLine::of).collect();
                out.emit(json!({"dpos": lines}), || {
                    dpos.iter()
                        .map(|d| {
                            let remit = d.service.map_or("operator".to_owned(), |s| format!("service {s}"));
                            let state = if d.can_sign_in { "signs in" } else { "invited" };
                            format!("{}  {}  ({remit}, {state})", d.id, d.name)
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
        }
        Ok(())
    }
}

/// How long a DPO's invitation link may be used.
const INVITATION_DAYS: i64 = 7;

async fn invite_dpo(vault: &cartable_vault::Vault, config: &crate::config::Config, dpo: cartable_consent::DpoId) -> anyhow::Result<String> {
    let token = crate::auth::new_secret();
    let expires_at = time::OffsetDateTime::now_utc() + time::Duration::days(INVITATION_DAYS);
    vault.create_invitation(cartable_vault::InvitationKind::Dpo(dpo), &crate::auth::hash_token(&token), expires_at).await?;
    Ok(format!("{}/invitation/{token}", config.public_url))
}


impl RegisterCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        let (vault, _) = console.open().await?;
        let out = &console.out;
        match self {
            RegisterCmd::List { filter, after, limit } => {
                if !(1..=10_000).contains(&limit) {
                    return Err(anyhow!("--limit is from 1 to 10000"));
                }
                let mut query = filter.query()?;
                query.after = after.map(|a| a.parse()).transpose()?;
                let (rows, next) = Walk::new(&vault, Reader::Operator, query).await?.page(limit).await?;
                let entries: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|r| json!({"family_id": r.family, "index": r.entry.index, "receipt": serde_json::to_value(&r.entry.receipt).unwrap_or_default()}))
                    .collect();
                out.emit(json!({"entries": entries, "next_after": next.map(|c| c.to_string())}), || {
                    let mut lines: Vec<String> = rows
                        .iter()
                        .map(|r| {
                            let time = r.entry.receipt.time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                            format!("{}  {:6}  {time}  {}", r.family, r.entry.index, r.entry.receipt.event.as_str())
                        })
                        .collect();
                    if let Some(next) = next {
                        lines.push(format!("more: --after {next}"));
                    }
                    lines.join("\n")
                });
            }
            RegisterCmd::Export { filter, format, output } => {
                let format = Format::parse(&format).ok_or_else(|| anyhow!("--format is csv or jsonl"))?;
                let mut file = output.as_deref().map(PrivateFile::create).transpose()?;
                let bar = super::console::counter("bytes of the register written");
                let mut stream = export(vault.clone(), Reader::Operator, filter.query()?, format);
                let mut stdout = std::io::stdout().lock();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.context("the export stopped")?;
                    match &mut file {
                        Some(file) => file.file().write_all(&chunk),
                        None => stdout.write_all(&chunk),
                    }
                    .context("cannot write the export")?;
                    bar.inc(chunk.len() as u64);
                }
                stdout.flush().context("cannot write the export")?;
                bar.finish_and_clear();
                if let (Some(file), Some(path)) = (file, output) {
                    file.commit()?;
                    eprintln!("written: {}", path.display());
                }
            }
            RegisterCmd::Processing { csv } => {
                let record = processing::record(&vault, Reader::Operator).await?;
                if csv {
                    std::io::stdout().write_all(&processing::to_csv(&record)?)?;
                } else {
                    out.emit(serde_json::to_value(&record)?, || {
                        record
                            .activities
                            .iter()
                            .map(|a| {
                                format!(
                                    "{} ({}): {} | legal bases: {} | data: {} | children: {} under {}, {} minors above, {} adults | {}-{} days | grants: {} active, {} revoked, {} expired, {} other",
                                    a.service_name,
                                    a.service_id,
                                    a.purposes.join("; "),
                                    a.legal_bases.join(", "),
                                    a.doctypes.join(", "),
                                    a.persons.minors_under_consent_age,
                                    vault.age_rules().digital_consent_age,
                                    a.persons.minors_over_consent_age,
                                    a.persons.adults,
                                    a.retention_days_min,
                                    a.retention_days_max,
                                    a.grants_active,
                                    a.grants_revoked,
                                    a.grants_expired,
                                    a.grants_other
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    });
                }
            }
            RegisterCmd::Verify => {
                let families = vault.list_families().await?;
                let bar = indicatif::ProgressBar::new(families.len() as u64);
                bar.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} logs verified ({elapsed})").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
                let mut lines = Vec::with_capacity(families.len());
                let mut broken = 0;
                for family in families {
                    let line = match vault.verify_ledger(family).await {
                        Ok(report) => json!({"family_id": family, "verified": true, "size": report.size}),
                        Err(cartable_vault::VerifyError::Broken { index, reason, .. }) => {
                            broken += 1;
                            json!({"family_id": family, "verified": false, "broken_at": index, "problem": reason})
                        }
                        Err(e) => return Err(e.into()),
                    };
                    lines.push(line);
                    bar.inc(1);
                }
                bar.finish_and_clear();
                let total = lines.len();
                out.emit(json!({"logs": lines}), || {
                    let mut text: Vec<String> = lines
                        .iter()
                        .map(|l| match l["verified"].as_bool() {
                            Some(true) => format!("ok      {}  {} entries", l["family_id"].as_str().unwrap_or(""), l["size"]),
                            _ => format!("BROKEN  {}  at entry {}: {}", l["family_id"].as_str().unwrap_or(""), l["broken_at"], l["problem"].as_str().unwrap_or("")),
                        })
                        .collect();
                    text.push(format!("{} of {total} logs verified", total - broken));
                    text.join("\n")
                });
                if broken > 0 {
                    return Err(anyhow!("{broken} of {total} logs failed verification"));
                }
            }
        }
        Ok(())
    }
}
