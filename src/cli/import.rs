//! `cartable import …`: records from open formats, checked whole before anything is written (see `importers`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::{Context, anyhow};
use cartable_consent::{Action, Doctype, FamilyId, MemberId, Resource};
use clap::Subcommand;

use super::console::Console;
use crate::importers::{self, Progress, Report, Source};

#[derive(Debug, Subcommand)]
pub(super) enum ImportCmd {
    /// xAPI statements (one, an array, or one a line) as the child's activities, and their scores as grades.
    Xapi {
        file: PathBuf,
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        child: MemberId,
        /// Keep the valid statements when some are refused (by default, one refused statement stops the import).
        #[arg(long)]
        partial: bool,
    },
    /// Open Badges 2.0 / 3.0 and CLR 2.0 credentials (JSON, VC-JWT, baked PNG or SVG) as the child's certificates, each
    /// with what its signature check found.
    Badge {
        file: PathBuf,
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        child: MemberId,
        /// Keep the valid credentials of a CLR when some are refused.
        #[arg(long)]
        partial: bool,
    },
    /// A OneRoster 1.1 / 1.2 CSV set (a folder or a zip): the mapped pupils' enrollments and results.
    Oneroster {
        set: PathBuf,
        #[arg(long)]
        family: FamilyId,
        /// A pupil of the set and the child they are: `SOURCEDID=CHILD`, once per pupil (nobody is matched by name).
        #[arg(long = "map", value_name = "SOURCEDID=CHILD", required = true)]
        map: Vec<String>,
        /// Keep the readable rows when some are refused.
        #[arg(long)]
        partial: bool,
    },
    /// Files as they are (PDF report cards, scans) into one collection, under their names; all of them or none.
    File {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        child: MemberId,
        /// e.g. `edu.report-cards`, `edu.documents`, `edu.certificates`.
        #[arg(long)]
        doctype: Doctype,
    },
}

/// A bar on standard error: items read, their rate, and how many were refused (hidden when stderr is not a terminal).
struct Bar {
    bar: indicatif::ProgressBar,
    refused: AtomicU64,
    writing: AtomicBool,
}

impl Bar {
    fn new(noun: &'static str) -> Self {
        let bar = indicatif::ProgressBar::new_spinner();
        let template = format!("{{spinner}} {{msg}}: {{pos}} {noun} ({{per_sec}}, {{elapsed}})");
        bar.set_style(indicatif::ProgressStyle::with_template(&template).unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()));
        bar.set_message("checking");
        Bar { bar, refused: AtomicU64::new(0), writing: AtomicBool::new(false) }
    }
}

impl Progress for Bar {
    fn writing(&self) {
        self.writing.store(true, Ordering::Relaxed);
        self.bar.set_position(0);
        self.bar.set_message("importing");
    }

    fn item(&self, refused: bool) {
        self.bar.inc(1);
        // Refusals are counted in the check; the writing pass meets the same ones again.
        if refused && !self.writing.load(Ordering::Relaxed) {
            let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
            self.bar.set_message(format!("checking, {n} refused"));
        }
    }
}

impl ImportCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        let (vault, _) = console.open().await?;
        let (file, family, child, partial, badges) = match self {
            ImportCmd::Xapi { file, family, child, partial } => (file, family, child, partial, false),
            ImportCmd::Badge { file, family, child, partial } => (file, family, child, partial, true),
            ImportCmd::File { paths, family, child, doctype } => return import_files(console, &vault, &paths, family, child, doctype).await,
            ImportCmd::Oneroster { set, family, map, partial } => return import_roster(console, &vault, set, family, &map, partial).await,
        };
        // Opened once here so that a missing file is said before anything else.
        std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
        let path = file.clone();
        let open: importers::xapi::Open = Box::new(move || Ok(Box::new(std::fs::File::open(&path)?) as Box<dyn std::io::Read + Send>));
        let (source, noun, rules): (Arc<dyn Source>, _, _) = if badges {
            (Arc::new(importers::badges::Badges { open, child, now: time::OffsetDateTime::now_utc() }), "credential(s)", "Open Badges")
        } else {
            (Arc::new(importers::xapi::Statements { open, child }), "statement(s)", "xAPI")
        };
        let bar = Arc::new(Bar::new(if badges { "credentials" } else { "statements" }));
        let result = importers::run(&vault, source, partial, bar.clone(), |child, doctype| {
            let vault = vault.clone();
            async move { Ok(vault.as_operator(family, Action::Write, Resource::Collection { child, doctype }).await?) }
        })
        .await;
        bar.bar.finish_and_clear();
        let report = result?;
        print_report(console, &report, noun);
        if !report.written && report.rejected > 0 {
            return Err(anyhow!("{} {noun} break the {rules} rules: nothing was imported (fix them, or give --partial to import the valid ones)", report.rejected));
        }
        Ok(())
    }
}

async fn import_roster(console: &Console, vault: &cartable_vault::Vault, set: PathBuf, family: FamilyId, map: &[String], partial: bool) -> anyhow::Result<()> {
    if !set.exists() {
        return Err(anyhow!("cannot open {}: no such folder or file", set.display()));
    }
    let mut children = std::collections::HashMap::new();
    for pair in map {
        let (sourced_id, child) = pair.split_once('=').ok_or_else(|| anyhow!("--map takes SOURCEDID=CHILD, not `{pair}`"))?;
        let child: MemberId = child.parse().map_err(|_| anyhow!("--map {sourced_id}=…: not a member id"))?;
        if children.insert(sourced_id.to_owned(), child).is_some() {
            return Err(anyhow!("--map names `{sourced_id}` twice"));
        }
    }
    let source: Arc<dyn Source> = Arc::new(importers::oneroster::Roster { set: importers::oneroster::Set::Path(set), children });
    let bar = Arc::new(Bar::new("rows"));
    let result = importers::run(vault, source, partial, bar.clone(), |child, doctype| {
        let vault = vault.clone();
        async move { Ok(vault.as_operator(family, Action::Write, Resource::Collection { child, doctype }).await?) }
    })
    .await;
    bar.bar.finish_and_clear();
    let report = result?;
    print_report(console, &report, "row(s)");
    if !report.written && report.rejected > 0 {
        return Err(anyhow!("{} row(s) of the set cannot be taken: nothing was imported (fix them, or give --partial to import the rest)", report.rejected));
    }
    Ok(())
}

async fn import_files(console: &Console, vault: &cartable_vault::Vault, paths: &[PathBuf], family: FamilyId, child: MemberId, doctype: Doctype) -> anyhow::Result<()> {
    let permit = vault.as_operator(family, Action::Write, Resource::Collection { child, doctype }).await?;
    let bar = Bar::new("files");
    let result = importers::files::import_files(vault, permit, child, doctype, paths, &bar).await;
    bar.bar.finish_and_clear();
    let report = result?;
    let value = serde_json::to_value(&report).unwrap_or_default();
    console.out.emit(value, || {
        let mut out = String::new();
        for f in &report.files {
            match f.record_id {
                Some(id) => out.push_str(&format!("{}: {id}\n", f.name)),
                None => out.push_str(&format!("{}: already there\n", f.name)),
            }
        }
        out.push_str(&format!("{} file(s) imported, {} already there", report.imported, report.duplicates));
        out
    });
    Ok(())
}

fn print_report(console: &Console, report: &Report, noun: &str) {
    let value = serde_json::to_value(report).unwrap_or_default();
    console.out.emit(value, || {
        let mut out = String::new();
        for p in &report.problems {
            out.push_str(&format!("line {}: {} at `{}`: {}\n", p.line, p.rule, p.path, p.message));
        }
        if report.rejected as usize > report.problems.len() {
            out.push_str(&format!("… and {} more refused\n", report.rejected as usize - report.problems.len()));
        }
        if report.written {
            out.push_str(&format!("{} record(s) imported, {} already there, {} of the {noun} refused", report.imported, report.duplicates, report.rejected));
            for c in &report.collections {
                out.push_str(&format!("\n  {}: {} imported, {} already there", c.doctype, c.imported, c.duplicates));
            }
        } else if report.rejected == 0 {
            out.push_str(&format!("no {noun} in the input: nothing to import"));
        } else {
            out.push_str(&format!("{} {noun} refused, nothing imported", report.rejected));
        }
        out
    });
}
