//! A family's archive from the command line: `cartable archive export` writes it to a file (0600, renamed into
//! place when complete), `cartable archive verify` checks one without importing it. What goes in is
//! `crate::archive`'s.

use std::path::PathBuf;

use anyhow::{Context, bail};
use cartable_consent::FamilyId;
use cartable_vault::Vault;
use clap::Subcommand;

use super::console::{Console, counter};
use super::data::PrivateFile;
use crate::archive::{self, OperatorExport};

#[derive(Debug, Subcommand)]
pub(super) enum ArchiveCmd {
    /// Write a family's archive: its members, records, files, grants and policies, and its whole ledger with a signed
    /// checkpoint and the key to check it (streamed: no plaintext temporary file; the file is 0600).
    Export {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        out: PathBuf,
        /// Encrypt the whole archive with age to the passphrase in this file (its first line).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Check an archive without importing it: every entry's hash, and the ledger against its signed checkpoint.
    Verify {
        file: PathBuf,
        /// The ledger's verifier key to trust (`cartable ledger key` on the server that wrote it); default: the key the
        /// archive holds, which proves the archive consistent, not who wrote it.
        #[arg(long)]
        key: Option<String>,
        /// The passphrase of an encrypted archive, in this file (its first line).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Import a family from its archive, with its id, members, records, files, grants and whole ledger, under keys of
    /// this vault: everything is checked before anything is written, and it is written in one transaction. Sign-in
    /// names and passwords do not travel: `--invite` prints a link for each guardian to choose them again.
    Import {
        file: PathBuf,
        /// The ledger's verifier key to trust (`cartable ledger key` on the server that wrote it); default: the key the
        /// archive holds.
        #[arg(long)]
        key: Option<String>,
        /// The passphrase of an encrypted archive, in this file (its first line).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Print a one-time link (7 days) for each guardian to set their sign-in name and password.
        #[arg(long)]
        invite: bool,
    },
    /// A one-time link (7 days) for a family to bring its archive to this server itself, from the web UI's import
    /// page (or `POST /api/v1/imports/{token}`).
    Invite,
}

impl ArchiveCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        match self {
            ArchiveCmd::Export { family, out, passphrase_file } => {
                let passphrase = passphrase_file.as_deref().map(read_passphrase).transpose()?;
                let (vault, _) = console.open().await?;
                let handle = tokio::runtime::Handle::current();
                let summary = tokio::task::spawn_blocking(move || export(&handle, &vault, family, &out, passphrase)).await.context("the export stopped")??;
                console.out.emit(serde_json::to_value(&summary)?, || {
                    format!(
                        "{} entries, {} bytes of data: {} records, {} files, {} ledger entries",
                        summary.entries, summary.bytes, summary.records, summary.files, summary.ledger_entries
                    )
                });
            }
            ArchiveCmd::Verify { file, key, passphrase_file } => {
                let passphrase = passphrase_file.as_deref().map(read_passphrase).transpose()?;
                let report = tokio::task::spawn_blocking(move || {
                    let mut opened = archive::open_archive(&file, passphrase)?;
                    let progress = counter("entries checked");
                    let verified = archive::verify_archive(&mut opened, key.as_deref(), &mut |done| progress.set_position(done))?;
                    progress.finish_and_clear();
                    anyhow::Ok(archive::report(&opened, &verified, key.is_some()))
                })
                .await
                .context("the check stopped")??;
                console.out.emit(report.clone(), || format!("the archive verifies: {} entries, ledger of {} entries signed by {}", report["entries"], report["ledger_size"], report["signed_by"]));
            }
            ArchiveCmd::Invite => {
                let (vault, config) = console.open().await?;
                let link = super::family::invite_member(&vault, &config, cartable_vault::InvitationKind::FamilyImport).await?;
                console.out.emit(serde_json::json!({"link": link}), || format!("{link}\n(one family's import, for 7 days; give it to the family only)"));
            }
            ArchiveCmd::Import { file, key, passphrase_file, invite } => {
                let passphrase = passphrase_file.as_deref().map(read_passphrase).transpose()?;
                let (vault, config) = console.open().await?;
                let handle = tokio::runtime::Handle::current();
                let importing = vault.clone();
                let report = tokio::task::spawn_blocking(move || {
                    let mut opened = archive::open_archive(&file, passphrase)?;
                    let progress = Phases::default();
                    let report = archive::import_archive(&handle, &importing, &mut opened, key.as_deref(), &progress);
                    progress.end();
                    report
                })
                .await
                .context("the import stopped")?;
                let report = match report {
                    Ok(report) => report,
                    Err(e) => {
                        let _ = vault.close().await;
                        return Err(e);
                    }
                };
                let mut links = Vec::new();
                if invite {
                    let read = vault.as_operator(report.family, cartable_consent::Action::Read, cartable_consent::Resource::Family).await?;
                    for member in vault.list_members(&read).await?.into_iter().filter(|m| m.role == cartable_consent::Role::Guardian) {
                        let link = super::family::invite_member(&vault, &config, cartable_vault::InvitationKind::GuardianSignIn(report.family, member.id)).await?;
                        links.push((member.id, member.name, link));
                    }
                }
                vault.close().await?;
                let json = serde_json::json!({
                    "family_id": report.family,
                    "members": report.members,
                    "records": report.records,
                    "files": report.files,
                    "grants": report.grants,
                    "prohibitions": report.prohibitions,
                    "ledger_entries": report.ledger_entries,
                    "services_registered": report.services_registered,
                    "invitations": links.iter().map(|(id, _, link)| serde_json::json!({"member_id": id, "link": link})).collect::<Vec<_>>(),
                });
                console.out.emit(json, || {
                    let mut text = format!(
                        "family {} imported: {} members, {} records, {} files, {} grants, {} prohibitions, {} ledger entries (and the import's own)",
                        report.family, report.members, report.records, report.files, report.grants, report.prohibitions, report.ledger_entries
                    );
                    for service in &report.services_registered {
                        text.push_str(&format!("\nservice {service} is new here: approve it (`cartable service approve`) and give it a secret (`cartable service secret`)"));
                    }
                    for (_, name, link) in &links {
                        text.push_str(&format!("\n{name}: {link}"));
                    }
                    text
                });
            }
        }
        Ok(())
    }
}

/// An import's progress on standard error: one counter per phase.
#[derive(Default)]
struct Phases {
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl Phases {
    fn end(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }
}

impl archive::ImportProgress for Phases {
    fn phase(&self, name: &'static str) {
        self.end();
        let what = match name {
            "checking" => "entries checked",
            "files" => "files imported",
            _ => "records imported",
        };
        *self.bar.lock().expect("progress lock") = Some(counter(what));
    }

    fn done(&self, count: u64) {
        if let Some(bar) = self.bar.lock().expect("progress lock").as_ref() {
            bar.set_position(count);
        }
    }
}

/// A passphrase from the first line of a file (never from an argument, which other users can see).
fn read_passphrase(path: &std::path::Path) -> anyhow::Result<age::secrecy::SecretString> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the passphrase file `{}`", path.display()))?;
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() < 8 {
        bail!("the passphrase must be at least 8 characters");
    }
    Ok(age::secrecy::SecretString::from(line.to_owned()))
}

/// Writes the operator's archive of the family to `out` (on a blocking thread).
fn export(
    handle: &tokio::runtime::Handle,
    vault: &Vault,
    family: FamilyId,
    out: &std::path::Path,
    passphrase: Option<age::secrecy::SecretString>,
) -> anyhow::Result<archive::ExportSummary> {
    let mut file = PrivateFile::create(out)?;
    let buffered = std::io::BufWriter::with_capacity(256 * 1024, file.file().try_clone()?);
    let output = archive::Sealing::new(buffered, passphrase)?;
    let progress = counter("records and files written");
    let exporter = OperatorExport { handle, vault, family };
    let (output, summary) = archive::write_archive(handle, vault, &exporter, family, output, &|n| progress.set_position(n))?;
    progress.finish_and_clear();
    output.finish()?;
    file.file().sync_all()?;
    file.commit()?;
    Ok(summary)
}
