//! The consent ledger and the refusals kept apart from it: `cartable ledger …`, `cartable audit …`.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use cartable_consent::{FamilyId, ServiceId};
use cartable_vault::LedgerFilter;
use clap::Subcommand;
use serde_json::json;
use time::OffsetDateTime;

use super::console::Console;
use super::output::{EntryLine, VerifyLine};

#[derive(Debug, Subcommand)]
pub(super) enum LedgerCmd {
    /// Replay the log, check every hash, the checkpoints and the grants.
    Verify {
        #[arg(long)]
        family: FamilyId,
    },
    /// Print a signed checkpoint of the family's log.
    Checkpoint {
        #[arg(long)]
        family: FamilyId,
    },
    /// Print the tlog-proof of one entry.
    Proof {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        entry: u64,
    },
    /// Check a proof offline, without the database.
    CheckProof {
        file: PathBuf,
        /// The verifier key (`cartable ledger key`).
        #[arg(long)]
        key: String,
    },
    /// List entries for review.
    List {
        #[arg(long)]
        family: FamilyId,
        /// RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        event: Option<String>,
        #[arg(long)]
        service: Option<ServiceId>,
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Print the verifier key of this server's checkpoints.
    Key,
}

#[derive(Debug, Subcommand)]
pub(super) enum AuditCmd {
    /// Refusals of another family's members and services, counted per day, caller, family and reason.
    Refusals {
        /// How many days back, today included.
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
}

impl LedgerCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        let out = &console.out;
        match self {
            LedgerCmd::CheckProof { file, key } => {
                let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read `{}`", file.display()))?;
                let checked = crate::ledger_check::check_proof(&text, &key)?;
                out.emit(checked.clone(), || format!("ok: entry {} is in {} at size {}", checked["index"], checked["origin"], checked["size"]));
            }
            cmd => {
                let (vault, _) = console.open().await?;
                match cmd {
                    LedgerCmd::Verify { family } => {
                        let report = vault.verify_ledger(family).await?;
                        out.emit(serde_json::to_value(VerifyLine::of(&report))?, || {
                            format!(
                                "ok: {} entries, root {}, {} checkpoint(s) and {} grant(s) checked",
                                report.size, report.root, report.checkpoints_checked, report.grants_checked
                            )
                        });
                    }
                    LedgerCmd::Checkpoint { family } => {
                        let note = vault.checkpoint(&vault.operator_register(family).await?).await?;
                        out.emit(json!({"family_id": family, "checkpoint": note}), || note.trim_end().to_owned());
                    }
                    LedgerCmd::Proof { family, entry } => {
                        let proof = vault.inclusion_proof(&vault.operator_register(family).await?, entry).await?;
                        out.emit(json!({"family_id": family, "entry": entry, "proof": proof}), || proof.trim_end().to_owned());
                    }
                    LedgerCmd::List { family, since, event, service, limit } => {
                        let since = since
                            .map(|s| OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339))
                            .transpose()
                            .map_err(|_| anyhow!("--since must be an RFC 3339 time"))?;
                        let event = event
                            .map(|e| e.parse::<cartable_consent::ledger::EventType>())
                            .transpose()
                            .map_err(|e| anyhow!("{e}"))?;
                        let permit = vault.operator_register(family).await?;
                        let entries = vault.ledger_entries(&permit, &LedgerFilter { since, event, service, limit: Some(limit), ..Default::default() }).await?;
                        let lines: Vec<EntryLine> = entries.iter().map(EntryLine::of).collect();
                        out.emit(json!({"family_id": family, "entries": lines}), || {
                            entries
                                .iter()
                                .map(|e| {
                                    let time = e.receipt.time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                                    format!("{:6}  {time}  {}", e.index, e.receipt.event.as_str())
                                })
                                .collect::<Vec<_>>()
                                .join("\n")
                        });
                    }
                    LedgerCmd::Key => {
                        let key = vault.ledger_verifier_key();
                        out.emit(json!({"verifier_key": key}), || key.clone());
                    }
                    LedgerCmd::CheckProof { .. } => unreachable!("handled above"),
                }
            }
        }
        Ok(())
    }
}

impl AuditCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        let out = &console.out;
        let AuditCmd::Refusals { days } = self;
        let (vault, _) = console.open().await?;
        let today = OffsetDateTime::now_utc().unix_timestamp().div_euclid(86_400);
        let rows = vault.api().outsider_refusals(today - i64::from(days.max(1)) + 1).await?;
        let list: Vec<_> = rows
            .iter()
            .map(|(day, caller, family, reason, count)| {
                let date = OffsetDateTime::from_unix_timestamp(day * 86_400).map(|t| t.date().to_string()).unwrap_or_default();
                json!({"day": date, "caller": caller, "family_id": family, "reason": reason, "count": count})
            })
            .collect();
        out.emit(json!({"refusals": list}), || {
            list.iter()
                .map(|r| format!("{}  {}  family {}  {}  ×{}", r["day"].as_str().unwrap_or(""), r["caller"].as_str().unwrap_or(""), r["family_id"].as_str().unwrap_or(""), r["reason"].as_str().unwrap_or(""), r["count"]))
                .collect::<Vec<_>>()
                .join("\n")
        });
        Ok(())
    }
}

/// `cartable notifications`: the e-mail outbox, for the operator (counts and the kinds of the latest failures; no
/// address, no message).
pub(super) async fn notifications(console: &Console) -> anyhow::Result<()> {
    let (vault, _) = console.open().await?;
    let status = vault.outbox_status().await?;
    let rfc3339 = |t: OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let errors: Vec<_> = status.last_errors.iter().map(|(at, attempt, error)| json!({"at": rfc3339(*at), "attempt": attempt, "error": error})).collect();
    let value = json!({"pending": status.pending, "retrying": status.retrying, "sent": status.sent, "failed": status.failed, "last_errors": errors});
    console.out.emit(value, || {
        let mut text = format!("e-mails: {} waiting ({} retrying), {} sent, {} given up", status.pending, status.retrying, status.sent, status.failed);
        for (at, attempt, error) in &status.last_errors {
            text.push_str(&format!("\n  {}  attempt {attempt}: {error}", rfc3339(*at)));
        }
        text
    });
    Ok(())
}
