//! Records and files in a child's collections: `cartable record …`, `cartable file …`.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use cartable_consent::{Action, Doctype, FamilyId, MemberId, RecordId, Resource};
use cartable_vault::{NewRecord, RecordFilter};
use clap::Subcommand;
use serde_json::json;

use super::console::Console;
use super::output::{RecordLine, RecordSummaryLine};

#[derive(Debug, Subcommand)]
pub(super) enum RecordCmd {
    Put {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        child: MemberId,
        #[arg(long)]
        doctype: Doctype,
        /// A JSON file, or `-` for standard input.
        #[arg(long)]
        body: String,
    },
    Get {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        id: RecordId,
    },
    List {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        child: Option<MemberId>,
        #[arg(long)]
        doctype: Option<Doctype>,
        /// Continue after this record id.
        #[arg(long)]
        after: Option<RecordId>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum FileCmd {
    Put {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        child: MemberId,
        #[arg(long)]
        doctype: Doctype,
        path: PathBuf,
    },
    Get {
        #[arg(long)]
        family: FamilyId,
        #[arg(long)]
        id: RecordId,
        #[arg(long)]
        out: PathBuf,
    },
}

impl RecordCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        let out = &console.out;
        let (vault, _) = console.open().await?;
        match self {
            RecordCmd::Put { family, child, doctype, body } => {
                let text = read_body(&body)?;
                let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| anyhow!("the body is not valid JSON ({e})"))?;
                let permit = vault.as_operator(family, Action::Write, Resource::Collection { child, doctype }).await?;
                let id = vault.put_record(&permit, NewRecord { child, doctype, source: "operator".to_owned(), body }).await?;
                out.emit(json!({"record_id": id}), || id.to_string());
            }
            RecordCmd::Get { family, id } => {
                let resource = vault.record_resource(family, id).await?;
                let permit = vault.as_operator(family, Action::Read, resource).await?;
                let doc = vault.get_record(&permit).await?;
                let value = serde_json::to_value(RecordLine::of(&doc))?;
                out.emit(value.clone(), || serde_json::to_string_pretty(&value).unwrap_or_default());
            }
            RecordCmd::List { family, child, doctype, after, limit } => {
                let resource = match (child, doctype) {
                    (Some(child), Some(doctype)) => Resource::Collection { child, doctype },
                    _ => Resource::Family,
                };
                let permit = vault.as_operator(family, Action::List, resource).await?;
                let records = vault.list_records(&permit, &RecordFilter { child, doctype, after, limit: Some(limit) }).await?;
                let lines: Vec<RecordSummaryLine> = records.iter().map(RecordSummaryLine::of).collect();
                out.emit(json!({"records": lines}), || {
                    records
                        .iter()
                        .map(|r| format!("{}  {}  {}  {}  {} bytes", r.id, r.doctype, r.child, r.kind, r.size))
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
        }
        Ok(())
    }
}

impl FileCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        let out = &console.out;
        let (vault, _) = console.open().await?;
        match self {
            FileCmd::Put { family, child, doctype, path } => {
                let file = std::fs::File::open(&path).with_context(|| format!("cannot open `{}`", path.display()))?;
                let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| anyhow!("`{}` has no usable file name", path.display()))?.to_owned();
                let permit = vault.as_operator(family, Action::Write, Resource::Collection { child, doctype }).await?;
                let id = vault.put_file(&permit, child, doctype, "operator".to_owned(), name, Box::new(file)).await?;
                out.emit(json!({"record_id": id}), || id.to_string());
            }
            FileCmd::Get { family, id, out: path } => {
                let resource = vault.record_resource(family, id).await?;
                let permit = vault.as_operator(family, Action::Read, resource).await?;
                let (info, mut reader) = vault.open_file(&permit).await?;
                let dest = path.clone();
                let written = tokio::task::spawn_blocking(move || write_private_file(&dest, &mut reader)).await??;
                out.emit(json!({"record_id": id, "name": info.name, "size": written, "sha256": info.sha256, "out": path}), || {
                    format!("{} ({} bytes) written to {}", info.name, written, path.display())
                });
            }
        }
        Ok(())
    }
}

/// Writes `reader` to `dest` as a file only its owner reads (0600), through a [`PrivateFile`]. A failed copy leaves
/// nothing behind.
fn write_private_file(dest: &std::path::Path, reader: &mut dyn Read) -> anyhow::Result<u64> {
    let mut file = PrivateFile::create(dest)?;
    let copied = std::io::copy(reader, file.file()).map_err(|_| anyhow!("the stored file is corrupted or truncated"))?;
    file.commit()?;
    Ok(copied)
}

/// A file only its owner reads (0600), written under a new random name in `dest`'s folder, created exclusively (an
/// existing file or a planted symlink at that name is never opened, let alone followed), then synced and renamed
/// over `dest` by [`PrivateFile::commit`]; dropped before, it is removed.
pub(super) struct PrivateFile {
    tmp: std::path::PathBuf,
    dest: std::path::PathBuf,
    file: std::fs::File,
    committed: bool,
}

impl PrivateFile {
    pub(super) fn create(dest: &std::path::Path) -> anyhow::Result<PrivateFile> {
        let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        let name = dest.file_name().ok_or_else(|| anyhow!("`{}` is not a file path", dest.display()))?;
        let mut options = std::fs::OpenOptions::new();
        // `create_new` is O_CREAT|O_EXCL: it fails on any existing entry, symlinks included, without following it.
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let (tmp, file) = (0..8)
            .find_map(|_| {
                let mut tmp_name = std::ffi::OsString::from(".");
                tmp_name.push(name);
                tmp_name.push(format!(".{:016x}.partial", rand::random::<u64>()));
                let tmp = dir.join(tmp_name);
                match options.open(&tmp) {
                    Ok(file) => Some(Ok((tmp, file))),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                    Err(e) => Some(Err(e)),
                }
            })
            .unwrap_or_else(|| Err(std::io::ErrorKind::AlreadyExists.into()))
            .with_context(|| format!("cannot create a file beside `{}`", dest.display()))?;
        Ok(PrivateFile { tmp, dest: dest.to_owned(), file, committed: false })
    }

    pub(super) fn file(&mut self) -> &mut std::fs::File {
        &mut self.file
    }

    /// Syncs the file and renames it over its destination.
    pub(super) fn commit(mut self) -> anyhow::Result<()> {
        self.file.sync_all().with_context(|| format!("cannot write `{}`", self.dest.display()))?;
        std::fs::rename(&self.tmp, &self.dest).with_context(|| format!("cannot write `{}`", self.dest.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn read_body(source: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    if source == "-" {
        std::io::stdin().read_to_string(&mut text).context("cannot read the body from standard input")?;
    } else {
        text = std::fs::read_to_string(source).with_context(|| format!("cannot read `{source}`"))?;
    }
    Ok(text)
}
